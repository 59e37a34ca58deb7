"""What the shim and kubelet-lite share without depending on each other: the CRI log
line format, logging set-up, the Prometheus listener, and typed reads of stored JSON
records (like criapi, the generated stubs, both import it)."""
