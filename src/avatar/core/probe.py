"""A gRPC health probe for containers: ``python -m avatar.core.probe HOST:PORT``.

Exits 0 when the server's standard health check answers SERVING, 1 otherwise, so a
Docker ``HEALTHCHECK`` or a compose ``healthcheck`` can use it the way Kubernetes uses
its native ``grpc`` probes. It speaks plaintext, like those probes.
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(address: str, service: str = "", timeout: float = 3.0) -> str:
    """Returns the health status name of ``service`` at ``address`` (e.g. ``"SERVING"``).

    Args:
        address: ``host:port`` of the server.
        service: Full name of one served service; empty asks about the whole server.
        timeout: Seconds to wait for the answer.

    Raises:
        grpc.RpcError: The server did not answer.
    """
    with grpc.insecure_channel(address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout
        )
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def main(argv: list[str] | None = None) -> int:
    """Probes once; prints the status and returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m avatar.core.probe", description=__doc__)
    parser.add_argument("address", help="host:port of the gRPC server")
    parser.add_argument("--service", default="", help="one service's full name (default: all)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    args = parser.parse_args(argv)
    try:
        status = check(args.address, args.service, args.timeout)
    except grpc.RpcError as error:
        print(f"{args.address}: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print(f"{args.address}: {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
