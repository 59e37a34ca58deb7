"""Builders of CRI configs for the fast tests of validation and translation."""

from __future__ import annotations

from criapi.runtime.v1 import api_pb2 as pb


def sandbox_config(**fields):
    fields.setdefault(
        "metadata", pb.PodSandboxMetadata(name="nginx", namespace="default", uid="uid-1")
    )
    return pb.PodSandboxConfig(**fields)


def sandbox_security(**fields):
    return pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(**fields))


def container_config(**fields):
    fields.setdefault("metadata", pb.ContainerMetadata(name="app", attempt=1))
    fields.setdefault("image", pb.ImageSpec(image="docker.io/library/busybox:latest"))
    return pb.ContainerConfig(**fields)


def container_linux(resources=None, **security):
    return pb.LinuxContainerConfig(
        resources=resources or pb.LinuxContainerResources(),
        security_context=pb.LinuxContainerSecurityContext(**security),
    )


def resources(**fields):
    return container_config(linux=container_linux(pb.LinuxContainerResources(**fields)))


def security(**fields):
    return container_config(linux=container_linux(**fields))


def namespaces(**fields):
    return pb.NamespaceOption(**fields)


def int64(value):
    return pb.Int64Value(value=value)


def kv(key, value):
    return pb.KeyValue(key=key, value=value)
