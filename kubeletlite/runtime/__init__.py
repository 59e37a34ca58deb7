"""Talking to a CRI runtime: its protocol, the gRPC client, Pod -> CRI configs, streaming."""
