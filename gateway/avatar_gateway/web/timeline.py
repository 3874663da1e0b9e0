"""The web front's timeline: the session clock both tracks read, and the audio held.

:class:`SessionClock` maps the session's one clock (sample offsets, frame indices) to
this machine's: media at ``t`` seconds of session time leaves at ``origin + t``; late
media moves the origin later, a catch-up moves it earlier. :class:`AudioBuffer` holds
the PCM received from the gateway from a sample offset on, with the turn each stretch
belongs to, so the audio track knows what is idle and where a turn's speech starts.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from avatar.common.v1 import media_pb2

# Room for the gateway's own scheduling jitter before the first sample leaves.
PLAYOUT_MARGIN_SECONDS = 0.03


class SessionClock:
    """Session time to this machine's monotonic time, shared by both tracks."""

    def __init__(self) -> None:
        self.origin: float | None = None
        self.first_origin = 0.0
        self.started = asyncio.Event()
        self.audio_seconds = 0.0  # session time up to which audio has left
        self.audio_progress = asyncio.Event()

    def audio_sent(self, session_seconds: float) -> None:
        """Audio up to ``session_seconds`` has left: frames up to there may follow."""
        self.audio_seconds = session_seconds
        self.audio_progress.set()

    async def wait_for_audio(self, session_seconds: float, timeout: float) -> None:
        """Waits until audio up to ``session_seconds`` has left (at most ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self.audio_seconds < session_seconds:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.audio_progress.clear()
            try:
                await asyncio.wait_for(self.audio_progress.wait(), remaining)
            except TimeoutError:
                return

    def start(self, session_seconds: float) -> None:
        """Anchors the clock at the first media's arrival (``session_seconds`` into it)."""
        if self.origin is None:
            self.origin = time.monotonic() - session_seconds + PLAYOUT_MARGIN_SECONDS
            self.first_origin = self.origin
            self.started.set()

    @property
    def shift(self) -> float:
        """How much later than at the start the content plays now, seconds."""
        return 0.0 if self.origin is None else self.origin - self.first_origin

    def wire_seconds(self, session_seconds: float) -> float:
        """When media at ``session_seconds`` leaves, seconds from the first origin: the
        steady time line of the wire."""
        return self.shift + session_seconds

    def due(self, session_seconds: float) -> float:
        """When media at ``session_seconds`` should leave, monotonic seconds."""
        assert self.origin is not None
        return self.origin + session_seconds

    async def wait_until(self, session_seconds: float, early: float = 0.0) -> None:
        """Sleeps until ``early`` seconds before media at ``session_seconds`` is due."""
        await self.started.wait()
        delay = self.due(session_seconds) - early - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def position(self, rate: float) -> int:
        """The sample (or frame, at ``rate`` per second) due now; 0 before the start."""
        if self.origin is None:
            return 0
        return max(0, int((time.monotonic() - self.origin) * rate))

    def slip(self, seconds: float) -> None:
        """Moves the whole session later by ``seconds`` (late media)."""
        if self.origin is not None and seconds > 0:
            self.origin += seconds

    def catch_up(self, seconds: float) -> None:
        """Moves the whole session earlier by ``seconds``: what they held is skipped."""
        if self.origin is not None and seconds > 0:
            self.origin -= seconds


class AudioBuffer:
    """Received PCM from a sample offset on, with the turn each stretch belongs to."""

    def __init__(self) -> None:
        self.start = 0
        self.pcm = bytearray()
        self.turns: deque[tuple[int, int]] = deque()  # (first sample offset, turn)
        self.arrived = asyncio.Event()
        self.closed = False

    @property
    def end(self) -> int:
        """The sample offset after the last sample held."""
        return self.start + len(self.pcm) // 2

    def add(self, chunk: media_pb2.AudioChunk, turn: int) -> None:
        """Adds a chunk; a gap is filled with silence. A chunk for offsets already held
        replaces all held from its offset on (the gateway takes back a stopped turn's
        audio sent ahead so); what of it lies before :attr:`start` has left, and is dropped."""
        offset, pcm = chunk.sample_offset, chunk.pcm[: len(chunk.pcm) // 2 * 2]
        if not self.pcm and not self.turns:
            self.start = offset
        if offset < self.end:
            self._truncate(max(offset, self.start))
        if offset > self.end:
            self.pcm += bytes(2 * (offset - self.end))
        skip = max(0, self.end - offset)
        if skip * 2 >= len(pcm):
            return
        if not self.turns or self.turns[-1][1] != turn:
            self.turns.append((self.end, turn))
        self.pcm += pcm[skip * 2 :]
        self.arrived.set()

    def _truncate(self, offset: int) -> None:
        """Drops what is held from ``offset`` on."""
        del self.pcm[2 * (offset - self.start) :]
        while self.turns and self.turns[-1][0] >= offset:
            self.turns.pop()

    def silence_from(self, offset: int) -> None:
        """Turns what is held from ``offset`` on into the idle loop's silence."""
        offset = max(offset, self.start)
        if offset >= self.end:
            return
        held = self.end - offset
        self._truncate(offset)
        if not self.turns or self.turns[-1][1] != 0:
            self.turns.append((self.end, 0))
        self.pcm += bytes(2 * held)

    def forget_before(self, offset: int) -> None:
        """Drops what lies before ``offset`` (nobody read it in time)."""
        drop = min(len(self.pcm) // 2, max(0, offset - self.start))
        if drop:
            del self.pcm[: 2 * drop]
            self.start += drop
            while len(self.turns) > 1 and self.turns[1][0] <= self.start:
                self.turns.popleft()

    def close(self) -> None:
        """No more audio will come: readers get silence from now on."""
        self.closed = True
        self.arrived.set()

    def take(self, offset: int, count: int) -> tuple[bytes, int]:
        """``count`` samples from ``offset`` (silence where none were received), and the
        turn of the first of them; what lies before ``offset + count`` is then forgotten."""
        out = bytearray(2 * count)
        begin = max(offset, self.start)
        stop = min(offset + count, self.end)
        if stop > begin:
            out[2 * (begin - offset) : 2 * (stop - offset)] = self.pcm[
                2 * (begin - self.start) : 2 * (stop - self.start)
            ]
        turn = self.turn_at(offset)
        self.forget_before(offset + count)
        return bytes(out), turn

    def peek(self, offset: int, count: int) -> bytes:
        """Up to ``count`` samples held from ``offset`` on, without taking them."""
        if offset < self.start:
            return b""
        begin = 2 * (offset - self.start)
        return bytes(self.pcm[begin : begin + 2 * count])

    def idle(self, begin: int, end: int) -> bool:
        """Whether every sample held in [begin, end) belongs to the idle loop."""
        turns = list(self.turns)
        for position, (first, owner) in enumerate(turns):
            last = turns[position + 1][0] if position + 1 < len(turns) else self.end
            if owner != 0 and first < end and last > begin:
                return False
        return True

    def speech_start(self, offset: int) -> int | None:
        """The first sample at or after ``offset`` of a turn's speech held, if any."""
        for first, owner in self.turns:
            if owner != 0 and first >= offset:
                return first
        return None

    def turn_at(self, offset: int) -> int:
        """The turn the sample at ``offset`` belongs to (0: idle)."""
        turn = 0
        for first, owner in self.turns:
            if first > offset:
                break
            turn = owner
        return turn
