"""The voice of the text being typed, made before its turn is sent.

A person types for seconds before pressing Send. While they do, the page sends the
text as it stands (``ConverseDraft``), and the session synthesises its first sentence
at once. The turn that follows takes that synthesis when it starts with the same
sentence, in the same voice: its first audio is then in hand as soon as the turn is
placed on the clock, with none of the voice's time left to wait for. Any other turn
drops it.

One draft is kept at a time: a new draft whose first sentence differs cancels the
synthesis of the one before. A draft taken by a turn belongs to it: stopping the turn
cancels the synthesis, as it would cancel its own call to the tts service.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc

from avatar.tts.v1 import tts_pb2
from avatar_gateway.clients import StageError, TtsClient
from avatar_gateway.metrics import GatewayMetrics


class DraftSpeech:
    """One draft's synthesis: the tts service's events, kept as they come.

    Args:
        tts: The tts service.
        request: The synthesis of the draft's first sentence, as its turn would ask for it.
        timeout: Seconds the call may take (None: no limit).
    """

    def __init__(self, tts: TtsClient, request: tts_pb2.SynthesizeRequest, timeout: float | None):
        self.request = request
        self._events: list[tts_pb2.SynthesizeResponse] = []
        self._error: StageError | None = None
        self._ended = False
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(
            self._synthesize(tts, timeout), name=f"draft {request.text[:24]!r}"
        )

    async def _synthesize(self, tts: TtsClient, timeout: float | None) -> None:
        try:
            async for response in tts.synthesize(self.request, timeout):
                self._events.append(response)
                self._changed.set()
        except StageError as error:
            self._error = error
        except asyncio.CancelledError:
            self._error = StageError(
                TtsClient.stage, grpc.StatusCode.CANCELLED, "the draft's synthesis was stopped"
            )
            raise
        finally:
            self._ended = True
            self._changed.set()

    @property
    def failed_silent(self) -> bool:
        """Whether it failed before any audio: its turn then asks the voice anew."""
        return self._error is not None and not any(e.HasField("audio") for e in self._events)

    def cancel(self) -> None:
        """Stops the synthesis (nothing more comes)."""
        self._task.cancel()

    async def replay(self, timeout: float | None) -> AsyncIterator[tts_pb2.SynthesizeResponse]:
        """The synthesis' events: those made so far at once, the rest as they come.

        Raises:
            StageError: The synthesis failed, or did not end within ``timeout`` seconds.
        """
        played = 0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    while played < len(self._events):
                        yield self._events[played]
                        played += 1
                    if self._error is not None:
                        raise self._error
                    if self._ended:
                        return
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise StageError(
                TtsClient.stage,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "tts service did not answer within the deadline",
            ) from None
        finally:
            self.cancel()


class DraftedVoice:
    """The tts service for one turn, with the draft it took in place of its first call.

    The turn's first synthesis that asks exactly what the draft asked replays the
    draft; every other call, and that one when the draft failed before making any sound,
    goes to the tts service.

    Args:
        tts: The tts service.
        draft: The draft the turn took.
        on_used: Called once when the draft's speech is replayed.
    """

    def __init__(self, tts: TtsClient, draft: DraftSpeech, on_used: Callable[[], None]):
        self._tts = tts
        self._draft: DraftSpeech | None = draft
        self._on_used = on_used

    def synthesize(
        self, request: tts_pb2.SynthesizeRequest, timeout: float | None
    ) -> AsyncIterator[tts_pb2.SynthesizeResponse]:
        """Streams audio and timing events of one utterance (see the class)."""
        draft, self._draft = self._draft, None
        if draft is not None and draft.request == request and not draft.failed_silent:
            self._on_used()
            return draft.replay(timeout)
        if draft is not None:
            draft.cancel()
        return self._tts.synthesize(request, timeout)

    def drop(self) -> None:
        """Cancels the draft if the turn did not use it (the turn has ended)."""
        if self._draft is not None:
            self._draft.cancel()
            self._draft = None


class Drafts:
    """The session's draft: what the person is typing, its first sentence synthesised.

    Args:
        tts: The tts service.
        metrics: The gateway's metrics (drafts used by their turn, and not).
        time_remaining: Seconds left until the session's deadline (None: none).
    """

    def __init__(
        self,
        tts: TtsClient,
        metrics: GatewayMetrics,
        time_remaining: Callable[[], float | None],
    ) -> None:
        self._tts = tts
        self._metrics = metrics
        self._time_remaining = time_remaining
        self._draft: DraftSpeech | None = None

    def update(self, request: tts_pb2.SynthesizeRequest | None) -> None:
        """Synthesises ``request`` unless it is the draft's already; None drops the draft."""
        if self._draft is not None and self._draft.request == request:
            return
        self._drop()
        if request is not None:
            self._draft = DraftSpeech(self._tts, request, self._time_remaining())

    def take(self, first_request: tts_pb2.SynthesizeRequest | None) -> DraftedVoice | None:
        """The tts service for a turn whose first synthesis is ``first_request`` (None for
        a turn that synthesises nothing it knows yet: a chat turn): with the draft, when
        the draft asked the same, else None (the draft is dropped)."""
        draft, self._draft = self._draft, None
        if draft is None:
            return None
        if first_request is None or draft.request != first_request:
            draft.cancel()
            self._metrics.converse_drafts.labels("unused").inc()
            return None
        return DraftedVoice(
            self._tts, draft, lambda: self._metrics.converse_drafts.labels("used").inc()
        )

    def close(self) -> None:
        """Drops the draft (the session ends)."""
        self._drop()

    def _drop(self) -> None:
        if self._draft is not None:
            self._draft.cancel()
            self._metrics.converse_drafts.labels("unused").inc()
            self._draft = None
