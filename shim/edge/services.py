"""The two CRI services, wired RPC by RPC to the modules that serve them.

Each RPC is one line here, so the whole surface, served and unserved, reads
at a glance.
"""

from __future__ import annotations

from criapi.runtime.v1 import api_pb2_grpc
from shim.cri import containers, events, exec, images, runtime, sandboxes, stats, streams
from shim.cri.backend import Backend
from shim.edge.rpc import method, stream_method, unimplemented


class RuntimeService(api_pb2_grpc.RuntimeServiceServicer):
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    Version = method("Version", runtime.version)
    Status = method("Status", runtime.status)
    RuntimeConfig = method("RuntimeConfig", runtime.runtime_config)
    UpdateRuntimeConfig = method("UpdateRuntimeConfig", runtime.update_runtime_config)

    RunPodSandbox = method("RunPodSandbox", sandboxes.run_pod_sandbox)
    StopPodSandbox = method("StopPodSandbox", sandboxes.stop_pod_sandbox)
    RemovePodSandbox = method("RemovePodSandbox", sandboxes.remove_pod_sandbox)
    PodSandboxStatus = method("PodSandboxStatus", sandboxes.pod_sandbox_status)
    ListPodSandbox = method("ListPodSandbox", sandboxes.list_pod_sandbox)

    CreateContainer = method("CreateContainer", containers.create_container)
    StartContainer = method("StartContainer", containers.start_container)
    StopContainer = method("StopContainer", containers.stop_container)
    RemoveContainer = method("RemoveContainer", containers.remove_container)
    ListContainers = method("ListContainers", containers.list_containers)
    ContainerStatus = method("ContainerStatus", containers.container_status)
    UpdateContainerResources = method(
        "UpdateContainerResources", containers.update_container_resources
    )
    ReopenContainerLog = method("ReopenContainerLog", containers.reopen_container_log)

    ExecSync = method("ExecSync", exec.exec_sync)
    Exec = method("Exec", streams.exec_url)
    Attach = method("Attach", streams.attach_url)
    PortForward = method("PortForward", streams.port_forward_url)

    ContainerStats = method("ContainerStats", stats.container_stats)
    ListContainerStats = method("ListContainerStats", stats.list_container_stats)
    PodSandboxStats = method("PodSandboxStats", stats.pod_sandbox_stats)
    ListPodSandboxStats = method("ListPodSandboxStats", stats.list_pod_sandbox_stats)
    ListMetricDescriptors = method("ListMetricDescriptors", stats.list_metric_descriptors)
    ListPodSandboxMetrics = method("ListPodSandboxMetrics", stats.list_pod_sandbox_metrics)

    GetContainerEvents = stream_method("GetContainerEvents", events.get_container_events)

    # Not served: checkpoints, sandbox resizing.
    CheckpointContainer = unimplemented("CheckpointContainer")
    UpdatePodSandboxResources = unimplemented("UpdatePodSandboxResources")


class ImageService(api_pb2_grpc.ImageServiceServicer):
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    ListImages = method("ListImages", images.list_images)
    ImageStatus = method("ImageStatus", images.image_status)
    PullImage = method("PullImage", images.pull_image)
    RemoveImage = method("RemoveImage", images.remove_image)
    ImageFsInfo = method("ImageFsInfo", images.image_fs_info)
