"""kubelet-lite: a node agent that runs Kubernetes Pod manifests through the CRI shim."""

__version__ = "0.1.0"
