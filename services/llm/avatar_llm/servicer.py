"""gRPC servicer of ``avatar.llm.v1.LlmService``."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import grpc
from prometheus_client import CollectorRegistry

from avatar.llm.v1 import llm_pb2, llm_pb2_grpc
from avatar_core.server import Service, create_service_with
from avatar_llm.config import LlmConfig, setup_hint
from avatar_llm.engine import (
    ChatEngine,
    HistoryMessage,
    InvalidChatRequestError,
    NotConfiguredError,
    UpstreamError,
)
from avatar_llm.metrics import LlmMetrics

log = logging.getLogger(__name__)


class LlmServicer(llm_pb2_grpc.LlmServiceServicer):
    """Streams answers from a :class:`ChatEngine`, mapping its errors to status codes.

    Args:
        engine: The chat engine.
        metrics: Where to count answers and failures.
    """

    def __init__(self, engine: ChatEngine, metrics: LlmMetrics) -> None:
        self._engine = engine
        self._metrics = metrics

    async def Chat(
        self, request: llm_pb2.ChatRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[llm_pb2.ChatResponse]:
        """Streams the answer to one message: started, deltas, end (with the whole text)."""
        started_at = time.perf_counter()
        self._metrics.history_messages.observe(len(request.history))
        try:
            answer = self._engine.stream_answer(
                request.message,
                [HistoryMessage(_ROLES.get(item.role, ""), item.text) for item in request.history],
                system_prompt=request.system_prompt or None,
                max_tokens=request.max_tokens or None,
                language=request.language or None,
            )
        except InvalidChatRequestError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except NotConfiguredError as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, setup_hint(error.missing))
        sequence = 0
        async with answer:
            try:
                await answer.start()
                yield llm_pb2.ChatResponse(
                    sequence=sequence, started=llm_pb2.ChatStarted(model=answer.model)
                )
                async for delta in answer:
                    if sequence == 0:
                        self._metrics.time_to_first_delta.observe(time.perf_counter() - started_at)
                    sequence += 1
                    self._metrics.answer_characters.inc(len(delta))
                    yield llm_pb2.ChatResponse(
                        sequence=sequence, delta=llm_pb2.ChatDelta(text=delta)
                    )
            except UpstreamError as error:
                self._metrics.upstream_errors.labels(error.kind).inc()
                await context.abort(upstream_status(error), str(error))
        yield llm_pb2.ChatResponse(
            sequence=sequence + 1,
            end=llm_pb2.ChatEnd(finish_reason=answer.finish_reason, text=answer.text),
        )


# The engine's names of the roles of earlier messages; an unset role maps to "" (refused).
_ROLES = {llm_pb2.CHAT_ROLE_USER: "user", llm_pb2.CHAT_ROLE_ASSISTANT: "assistant"}
# Endpoint answers that retrying cannot fix: the configured model or key is wrong.
_CONFIGURATION_STATUSES = frozenset({401, 403, 404})


def upstream_status(error: UpstreamError) -> grpc.StatusCode:
    """The status of a failed model call: FAILED_PRECONDITION when the service's own
    configuration is at fault (unknown model, rejected key), else UNAVAILABLE (retry)."""
    if error.kind == "status" and error.status_code in _CONFIGURATION_STATUSES:
        return grpc.StatusCode.FAILED_PRECONDITION
    return grpc.StatusCode.UNAVAILABLE


def create_service(config: LlmConfig, registry: CollectorRegistry) -> Service:
    """Builds the llm service's :class:`Service` for the shared bootstrap."""
    engine = ChatEngine(config.chat)
    metrics = LlmMetrics(registry)
    servicer = LlmServicer(engine, metrics)

    async def warm_up() -> None:
        await _check_endpoint(engine)

    return create_service_with(
        servicer,
        llm_pb2_grpc.add_LlmServiceServicer_to_server,
        llm_pb2.DESCRIPTOR.services_by_name["LlmService"],
        warm_up=warm_up,
        close=engine.close,
    )


async def _check_endpoint(engine: ChatEngine) -> None:
    """Logs whether the model endpoint answers; never fails the start.

    The endpoint is another system that may come up later, and the rest of the
    stack works without chat, so problems are reported, not fatal.
    """
    try:
        models = await engine.list_models()
    except NotConfiguredError as error:
        log.warning("chat requests will fail: %s", setup_hint(error.missing))
        return
    except UpstreamError as error:
        log.warning("chat requests may fail until the model endpoint answers: %s", error)
        return
    if engine.model not in models:
        log.warning(
            "model %r is not among those the endpoint lists (%s)",
            engine.model,
            ", ".join(models[:10]) or "none",
        )
    else:
        log.info("model %r at %s is ready", engine.model, engine.settings.base_url)
