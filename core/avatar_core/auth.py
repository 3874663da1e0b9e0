"""Bearer-token authentication of incoming calls.

A server with a token refuses every call whose ``authorization`` metadata is not
``Bearer <token>`` with UNAUTHENTICATED. The comparison takes constant time
(:func:`hmac.compare_digest`), so response timing reveals nothing of the token.
Health checks and reflection stay open: probes and discovery tools carry no
credentials. Neither the expected nor the presented token is ever logged or put
into an error message.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator

import grpc
from prometheus_client import CollectorRegistry, Counter

from avatar_core.gate import wrap_handler
from avatar_core.handlers import HandlerInterceptor, MethodName

AUTHORIZATION_KEY = "authorization"
BEARER_PREFIX = "bearer "
# Probes and discovery carry no credentials.
OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
MISSING_TOKEN = (
    "missing credentials: send the metadata 'authorization: Bearer <token>' "
    "(avatar CLI: --token or AVATAR_TOKEN)"
)
WRONG_TOKEN = "invalid bearer token: the token sent does not match the server's"


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata that carries ``token``; empty when there is no token."""
    return ((AUTHORIZATION_KEY, f"Bearer {token}"),) if token else ()


class BearerTokenInterceptor(HandlerInterceptor):
    """Refuses calls without the right bearer token with UNAUTHENTICATED.

    Args:
        token: The token callers must present.
        registry: Where refused calls are counted
            (``avatar_server_unauthenticated_calls_total``).
    """

    exempt_prefixes = OPEN_PREFIXES

    def __init__(self, token: str, registry: CollectorRegistry) -> None:
        if not token:
            raise ValueError("a bearer token interceptor needs a non-empty token")
        self._expected = token.encode()
        self._refused = Counter(
            "avatar_server_unauthenticated_calls",
            "Calls refused with UNAUTHENTICATED (missing or wrong bearer token).",
            ["grpc_service", "grpc_method"],
            registry=registry,
        )

    def wrap(
        self,
        handler: grpc.RpcMethodHandler,
        method: MethodName,
        call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Passes authenticated calls on; answers the rest with UNAUTHENTICATED."""
        problem = self._problem(call_details.invocation_metadata or ())
        if problem is None:
            return handler
        self._refused.labels(method.service, method.method).inc()
        return wrap_handler(handler, lambda context: _refuse(context, problem))

    def _problem(self, metadata) -> str | None:
        values = [value for key, value in metadata if key == AUTHORIZATION_KEY]
        if not values:
            return MISSING_TOKEN
        value = values[0] if isinstance(values[0], str) else values[0].decode("latin-1")
        if value[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX:
            return MISSING_TOKEN
        presented = value[len(BEARER_PREFIX) :].strip().encode()
        if len(values) == 1 and hmac.compare_digest(presented, self._expected):
            return None
        return WRONG_TOKEN


@contextlib.asynccontextmanager
async def _refuse(context: grpc.aio.ServicerContext, problem: str) -> AsyncIterator[None]:
    """An admission that always refuses with UNAUTHENTICATED."""
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)
    yield
