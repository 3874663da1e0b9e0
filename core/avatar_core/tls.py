"""TLS credentials and channels for servers and clients.

Servers use :func:`server_credentials` with their :class:`~avatar_core.config.ServerTls`
(a client CA turns on mutual TLS: a client without a certificate signed by it cannot
connect). Clients open every channel through :func:`aio_channel` or
:func:`sync_channel`: plaintext when they have no :class:`~avatar_core.config.ClientTls`,
TLS (with their own certificate for mutual TLS) when they do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from avatar_core.config import ClientTls, ServerTls

ChannelOptions = Sequence[tuple[str, Any]]


def _read(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()


def server_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """Credentials of a TLS server; mutual TLS when ``tls`` names a client CA."""
    return grpc.ssl_server_credentials(
        [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
        root_certificates=_read(tls.client_ca_file),
        require_client_auth=tls.client_ca_file is not None,
    )


def channel_credentials(tls: ClientTls) -> grpc.ChannelCredentials:
    """Credentials of a TLS client: the server's CA and, for mutual TLS, its own certificate."""
    return grpc.ssl_channel_credentials(
        root_certificates=_read(tls.ca_file),
        private_key=_read(tls.key_file),
        certificate_chain=_read(tls.cert_file),
    )


def _with_server_name(tls: ClientTls | None, options: ChannelOptions) -> list[tuple[str, Any]]:
    options = list(options)
    if tls is not None and tls.server_name:
        # Verify this name in the server's certificate instead of the address's host.
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return options


def aio_channel(
    address: str, tls: ClientTls | None = None, options: ChannelOptions = ()
) -> grpc.aio.Channel:
    """Opens an asyncio channel: TLS when ``tls`` is given, plaintext otherwise."""
    if tls is None:
        return grpc.aio.insecure_channel(address, options=list(options))
    return grpc.aio.secure_channel(
        address, channel_credentials(tls), options=_with_server_name(tls, options)
    )


def sync_channel(
    address: str, tls: ClientTls | None = None, options: ChannelOptions = ()
) -> grpc.Channel:
    """Opens a blocking channel: TLS when ``tls`` is given, plaintext otherwise."""
    if tls is None:
        return grpc.insecure_channel(address, options=list(options))
    return grpc.secure_channel(
        address, channel_credentials(tls), options=_with_server_name(tls, options)
    )
