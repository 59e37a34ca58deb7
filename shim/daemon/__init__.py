"""The daemon process: start-up in order, the gRPC server on its socket, health, shutdown."""
