"""The descriptors gRPC server reflection serves, with JSON names spelled out."""

from __future__ import annotations

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from criapi.runtime.v1 import api_pb2


def descriptors_with_json_names() -> descriptor_pool.DescriptorPool:
    """The descriptors reflection serves, with every field's JSON name spelled out.

    Python's generated descriptors leave ``json_name`` implicit, and reflection
    clients such as grpcurl then print proto field names (``runtime_name``)
    instead of the JSON names every other CRI runtime shows (``runtimeName``).
    """
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()
    for file in (api_pb2.DESCRIPTOR, health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR):
        _add_file(pool, file, added)
    return pool


def _add_file(
    pool: descriptor_pool.DescriptorPool, file: descriptor.FileDescriptor, added: set[str]
) -> None:
    if file.name in added:
        return
    for dependency in file.dependencies:
        _add_file(pool, dependency, added)
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    for message in proto.message_type:
        _spell_json_names(message, file.message_types_by_name[message.name])
    pool.AddSerializedFile(proto.SerializeToString())
    added.add(file.name)


def _spell_json_names(
    proto: descriptor_pb2.DescriptorProto, message: descriptor.Descriptor
) -> None:
    for field in proto.field:
        field.json_name = message.fields_by_name[field.name].json_name
    for nested in proto.nested_type:
        _spell_json_names(nested, message.nested_types_by_name[nested.name])
