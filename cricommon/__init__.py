"""What the shim and kubelet-lite share without depending on each other: logging set-up
and the Prometheus listener (like criapi, the generated stubs, both import it)."""
