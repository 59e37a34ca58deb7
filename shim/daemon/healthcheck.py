"""Exit 0 when the shim's gRPC health service reports SERVING (for container health checks).

python -m shim.daemon.healthcheck [--listen unix:///run/cri-shim.sock] [--timeout 3]
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shim.config import DEFAULT_SOCKET, socket_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shim.daemon.healthcheck", description=__doc__)
    parser.add_argument("--listen", default=DEFAULT_SOCKET, help="the shim's socket")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for an answer")
    args = parser.parse_args(argv)
    with grpc.insecure_channel(f"unix://{socket_path(args.listen)}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=args.timeout)
        except grpc.RpcError as exc:
            print(f"unhealthy: {exc}", file=sys.stderr)
            return 1
    serving = answer.status == health_pb2.HealthCheckResponse.SERVING
    print(
        "serving"
        if serving
        else f"unhealthy: {health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}"
    )
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
