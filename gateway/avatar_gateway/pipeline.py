"""The Speak pipeline: the chain of stages of one request, run as tasks.

    text ─► sentences ─► tts ─► animator ─┬──────────────► deliver ─► client
    (or LLM deltas)                        └─► enhancer ─┘   (high quality, per frame)

Sentence k+1 is synthesised while sentence k animates (``sentences_ahead`` sentences
may wait); bounded queues between the stages hold a slow client's backpressure. Audio
and sentence events go from the animator stage straight to the client; frames too,
except in high quality when the enhancer works on every frame. In high quality the
avatar's enhanced still is looked up first (:mod:`avatar_gateway.appearance`, made once
per avatar) while the text is being synthesised: when the OpenCV backend enhanced it,
the animator touches up the moving regions of its frames itself and there is no
enhancer stage; with a restoration model, or without kept stills, the enhancer stage
takes every frame. The first failure in any stage, a client cancel or the deadline
cancels every stage, and with them every downstream call. The stages live in
:mod:`avatar_gateway.stages`; the request's measurements in :attr:`SpeakPipeline.measurements`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.appearance import Appearance
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

__all__ = ["Clients", "SpeakPipeline", "SpeakPlan", "next_or_fail", "result_or_fail"]

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
        self._context = StageContext(plan, clients, self.measurements, time_remaining)
        sentences: asyncio.Queue = asyncio.Queue(maxsize=SENTENCE_QUEUE)
        self._speech: asyncio.Queue = asyncio.Queue(maxsize=sentences_ahead)
        self._to_client: asyncio.Queue = asyncio.Queue(maxsize=CLIENT_QUEUE)
        self._text_stages: list[Stage] = [
            SentenceStage(self._context, sentences),
            TtsStage(self._context, sentences, self._speech),
        ]
        # Every stage started, the frame stages once the frames' path is known.
        self._stages: list[Stage] = []
        self._deliver = DeliverStage(self._context)
        self._media_ended = False

    async def events(self) -> AsyncIterator[gateway_pb2.SpeakResponse]:
        """Yields the client events (without sequence numbers): media, then the MP4.

        Raises:
            StageError: A downstream service failed; every stage is stopped by then.
        """
        failure: asyncio.Future = asyncio.get_running_loop().create_future()
        tasks: list[asyncio.Task] = []
        try:
            self._start(self._text_stages, tasks, failure)
            appearance = await self._appearance(failure)
            self._start(self._frame_stages(appearance), tasks, failure)
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

    def _start(self, stages: list[Stage], tasks: list[asyncio.Task], failure) -> None:
        """Starts ``stages``, whose first failure sets ``failure``."""
        for stage in stages:
            self._stages.append(stage)
            task = stage.start()
            task.add_done_callback(functools.partial(_report_failure, failure=failure))
            tasks.append(task)

    async def _appearance(self, failure: asyncio.Future) -> Appearance | None:
        """High quality's enhanced still of the avatar (None: low quality, or whole frames
        through the enhancer); the text is synthesised meanwhile."""
        plan, stills = self.plan, self._context.clients.stills
        if not plan.high_quality or stills is None:
            return None
        timeout = self._context.time_remaining()
        lookup = asyncio.ensure_future(stills.get(plan.content_hash, plan.photo, timeout))
        return await result_or_fail(lookup, failure)

    def _frame_stages(self, appearance: Appearance | None) -> list[Stage]:
        """The animator stage, and the enhancer stage when every frame goes through it."""
        context, speech, to_client = self._context, self._speech, self._to_client
        touchup = appearance.touchup if appearance is not None else None
        if not self.plan.high_quality or touchup is not None:
            return [AnimatorStage(context, speech, to_client, to_client, appearance)]
        frames: asyncio.Queue = asyncio.Queue(maxsize=ENHANCER_QUEUE)
        return [
            AnimatorStage(context, speech, to_client, frames, appearance),
            EnhancerStage(context, frames, to_client, appearance),
        ]

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
    return await result_or_fail(asyncio.ensure_future(queue.get()), failure)


async def result_or_fail(future: asyncio.Future, failure: asyncio.Future) -> Any:
    """Returns the result of ``future`` (or raises its error), or raises the first stage
    failure should that come first; ``future`` is then cancelled.

    Args:
        future: The work waited for.
        failure: Done with the exception of the first stage that failed.
    """
    try:
        await asyncio.wait({future, failure}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not future.done():
            future.cancel()
    if future.done() and not future.cancelled():
        return future.result()
    raise failure.exception()
