"""cri-shim: the Kubernetes CRI (runtime.v1) served over the Docker Engine API."""

__version__ = "0.1.0"
