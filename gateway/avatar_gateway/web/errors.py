"""gRPC failures of the gateway as HTTP answers a person can read."""

from __future__ import annotations

import math

import grpc
from aiohttp import web

# gRPC code -> HTTP status. UNAVAILABLE is the gateway (or a service behind it) being
# unreachable: 502, so that 503 keeps its one meaning here, "busy, retry later".
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.DATA_LOSS: 410,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 503,
    grpc.StatusCode.UNAVAILABLE: 502,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
PLAIN_WORDS = {
    grpc.StatusCode.UNAUTHENTICATED: "This avatar server needs an access token.",
    grpc.StatusCode.PERMISSION_DENIED: "The access token does not allow this.",
    grpc.StatusCode.UNAVAILABLE: "The avatar service cannot be reached right now; try again soon.",
    grpc.StatusCode.DEADLINE_EXCEEDED: "The avatar service took too long to answer.",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "The avatar service is busy.",
}
RETRY_AFTER_KEYS = {"retry-after-seconds": 1.0, "retry-after-ms": 0.001}
DEFAULT_RETRY_AFTER_SECONDS = 5


def error_response(
    status: int, message: str, code: str = "", retry_after: int | None = None
) -> web.Response:
    """A JSON error: ``{"error": message, "code": code}``, with Retry-After when busy."""
    body: dict[str, object] = {"error": message, "code": code}
    headers = {}
    if retry_after is not None:
        body["retry_after_seconds"] = retry_after
        headers["Retry-After"] = str(retry_after)
    return web.json_response(body, status=status, headers=headers)


def retry_after_seconds(error: grpc.aio.AioRpcError) -> int:
    """The back-off the gateway suggested in its trailing metadata, whole seconds (>= 1)."""
    for key, value in error.trailing_metadata() or ():
        scale = RETRY_AFTER_KEYS.get(key.lower())
        if scale is None:
            continue
        try:
            return max(1, math.ceil(float(value) * scale))
        except (TypeError, ValueError):
            continue
    return DEFAULT_RETRY_AFTER_SECONDS


def describe(error: grpc.aio.AioRpcError) -> str:
    """What went wrong, in words: the gateway's message, or plain words for transport codes."""
    code = error.code()
    details = (error.details() or "").strip()
    plain = PLAIN_WORDS.get(code)
    if code == grpc.StatusCode.UNAVAILABLE and details and "stage" in details:
        return f"A part of the avatar service is down ({details}); try again soon."
    if plain:
        return plain
    return (details[:1].upper() + details[1:]) if details else f"The request failed ({code.name})."


def grpc_error_response(error: grpc.aio.AioRpcError) -> web.Response:
    """The HTTP answer to a failed gateway call."""
    code = error.code()
    status = HTTP_STATUS.get(code, 500)
    message = describe(error)
    retry_after = None
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        retry_after = retry_after_seconds(error)
        message = f"The avatar is busy; retry in {retry_after} s."
    return error_response(status, message, code.name, retry_after)
