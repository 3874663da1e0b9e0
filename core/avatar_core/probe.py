"""A gRPC health probe for containers: ``python -m avatar_core.probe HOST:PORT``.

Exits 0 when the server's standard health check answers SERVING, 1 otherwise, so a
Docker ``HEALTHCHECK`` or a compose ``healthcheck`` can use it the way Kubernetes uses
its native ``grpc`` probes. It speaks plaintext, like those probes, unless given a CA
(``--tls-ca`` or ``AVATAR_PROBE_TLS_CA``) and, for mutual TLS, a client certificate
(``--tls-cert``/``--tls-key`` or ``AVATAR_PROBE_TLS_CERT``/``AVATAR_PROBE_TLS_KEY``):
Kubernetes' native probes cannot reach a TLS server, an exec probe with this can.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar_core.config import ClientTls, ConfigError
from avatar_core.tls import sync_channel


def check(
    address: str, service: str = "", timeout: float = 3.0, tls: ClientTls | None = None
) -> str:
    """Returns the health status name of ``service`` at ``address`` (e.g. ``"SERVING"``).

    Args:
        address: ``host:port`` of the server.
        service: Full name of one served service; empty asks about the whole server.
        timeout: Seconds to wait for the answer.
        tls: TLS settings for a server that speaks TLS; None for plaintext.

    Raises:
        grpc.RpcError: The server did not answer.
    """
    with sync_channel(address, tls) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout
        )
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def main(argv: list[str] | None = None) -> int:
    """Probes once; prints the status and returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m avatar_core.probe", description=__doc__)
    parser.add_argument("address", help="host:port of the gRPC server")
    parser.add_argument("--service", default="", help="one service's full name (default: all)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    for flag, variable, what in (
        ("--tls-ca", "AVATAR_PROBE_TLS_CA", "PEM CA of the server: probe over TLS"),
        ("--tls-cert", "AVATAR_PROBE_TLS_CERT", "PEM client certificate (mutual TLS)"),
        ("--tls-key", "AVATAR_PROBE_TLS_KEY", "PEM key of --tls-cert"),
    ):
        parser.add_argument(flag, default=os.environ.get(variable), help=f"{what} (env {variable})")
    args = parser.parse_args(argv)
    try:
        status = check(args.address, args.service, args.timeout, _tls(args))
    except (ConfigError, OSError) as error:
        print(f"{args.address}: {error}", file=sys.stderr)
        return 1
    except grpc.RpcError as error:
        print(f"{args.address}: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print(f"{args.address}: {status}")
    return 0 if status == "SERVING" else 1


def _tls(args: argparse.Namespace) -> ClientTls | None:
    paths = [Path(p) if p else None for p in (args.tls_ca, args.tls_cert, args.tls_key)]
    if not any(paths):
        return None
    return ClientTls(ca_file=paths[0], cert_file=paths[1], key_file=paths[2])


if __name__ == "__main__":
    sys.exit(main())
