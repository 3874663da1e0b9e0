"""The Speak pipeline: the chain of stages of one request, run as tasks.

    text ─► sentences ─► tts ─► animator ─┬──────────────► deliver ─► client
    (or LLM deltas)                        └─► enhancer ─┘   (high quality)

Sentence k+1 is synthesised while sentence k animates (``sentences_ahead`` sentences
may wait); bounded queues between the stages hold a slow client's backpressure. Audio
and sentence events go from the animator stage straight to the client, frames through
the enhancer in high quality. The first failure in any stage, a client cancel or the
deadline cancels every stage, and with them every downstream call. The stages live in
:mod:`avatar_gateway.stages`; the request's measurements in :attr:`SpeakPipeline.measurements`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.measurements import SpeakMeasurements
from avatar_gateway.plan import Clients, SpeakPlan
from avatar_gateway.stages import (
    AnimatorStage,
    DeliverStage,
    EnhancerStage,
    SentenceStage,
    Stage,
    StageContext,
    TtsStage,
)
from avatar_gateway.stages.events import END

__all__ = ["Clients", "SpeakPipeline", "SpeakPlan", "next_or_fail"]

# Queue bounds: a few sentences of text, a few frame batches, a couple of seconds of
# client events; ``sentences_ahead`` bounds the speech waiting for the animator.
SENTENCE_QUEUE = 8
ENHANCER_QUEUE = 8
CLIENT_QUEUE = 32


class SpeakPipeline:
    """Runs one Speak request through the stages.

    Args:
        clients: The downstream services.
        plan: The validated request.
        time_remaining: Seconds left until the client's deadline (None: no deadline).
        sentences_ahead: Sentences synthesised ahead of the one animating.
    """

    def __init__(
        self,
        clients: Clients,
        plan: SpeakPlan,
        time_remaining: Callable[[], float | None],
        sentences_ahead: int = 1,
    ) -> None:
        self.plan = plan
        self.measurements = SpeakMeasurements()
        context = StageContext(plan, clients, self.measurements, time_remaining)
        sentences: asyncio.Queue = asyncio.Queue(maxsize=SENTENCE_QUEUE)
        speech: asyncio.Queue = asyncio.Queue(maxsize=sentences_ahead)
        self._to_client: asyncio.Queue = asyncio.Queue(maxsize=CLIENT_QUEUE)
        frames = asyncio.Queue(maxsize=ENHANCER_QUEUE) if plan.high_quality else self._to_client
        self._stages: list[Stage] = [
            SentenceStage(context, sentences),
            TtsStage(context, sentences, speech),
            AnimatorStage(context, speech, self._to_client, frames),
        ]
        if plan.high_quality:
            self._stages.append(EnhancerStage(context, frames, self._to_client))
        self._deliver = DeliverStage(context)
        self._media_ended = False

    async def events(self) -> AsyncIterator[gateway_pb2.SpeakResponse]:
        """Yields the client events (without sequence numbers): media, then the MP4.

        Raises:
            StageError: A downstream service failed; every stage is stopped by then.
        """
        failure: asyncio.Future = asyncio.get_running_loop().create_future()
        tasks = [stage.start() for stage in self._stages]
        for task in tasks:
            task.add_done_callback(functools.partial(_report_failure, failure=failure))
        try:
            while (event := await next_or_fail(self._to_client, failure)) is not END:
                self._deliver.deliver(event)
                yield event
            self._media_ended = True
            async for chunk in self._deliver.finish():
                yield chunk
        finally:
            for stage in self._stages:
                stage.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._deliver.close()
            if not failure.done():
                failure.cancel()
            elif not failure.cancelled():
                failure.exception()  # retrieved: the client already got it, or left

    def spoken_text(self) -> str:
        """What the client was handed the speech of: all of it once the media ended,
        else up to where the request was interrupted or failed."""
        return self._deliver.spoken.text(finished=self._media_ended)


def _report_failure(task: asyncio.Task, failure: asyncio.Future) -> None:
    if task.cancelled() or failure.done():
        return
    error = task.exception()
    if error is not None:
        failure.set_exception(error)


async def next_or_fail(queue: asyncio.Queue, failure: asyncio.Future) -> Any:
    """Returns the next queue item, or raises the first stage failure.

    Args:
        queue: The queue the last stages put client events on.
        failure: Done with the exception of the first stage that failed.
    """
    if not queue.empty():
        return queue.get_nowait()
    getter = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait({getter, failure}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    raise failure.exception()
