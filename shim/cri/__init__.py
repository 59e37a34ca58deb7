"""One module per CRI concern, and the context their handlers share (``backend``)."""
