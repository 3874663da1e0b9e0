"""The one clock of a live session: frame k plays at ``start + k / fps``.

Every tick of the session is one frame and the audio of that frame's slot, samples
``[round(k * rate / fps), round((k + 1) * rate / fps))``, so frame indices and sample
offsets run gapless from 0 for the whole session, whatever plays. The server sends
each tick a little ahead of its time (:data:`LEAD_SECONDS`), enough to ride out
scheduling jitter, little enough that an interrupt is heard at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

LEAD_SECONDS = 0.1
"""How far ahead of its playing time a tick is sent, at most (about)."""


class SessionClock:
    """Frame slots and send times of one session.

    Args:
        fps: Frames per second.
        sample_rate: Samples per second of the session's audio.
        lead_seconds: How far ahead of its time a tick is sent.
        now: The time source, in seconds (monotonic).
    """

    def __init__(
        self,
        fps: float,
        sample_rate: int,
        *,
        lead_seconds: float = LEAD_SECONDS,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fps = fps
        self.sample_rate = sample_rate
        self.lead_seconds = lead_seconds
        self._now = now
        self._start: float | None = None

    def slot_start(self, frame: int) -> int:
        """The first sample of a frame's audio slot."""
        return round(frame * self.sample_rate / self.fps)

    def slot_samples(self, frame: int) -> int:
        """How many samples a frame's audio slot holds."""
        return self.slot_start(frame + 1) - self.slot_start(frame)

    def frame_seconds(self, frame: int) -> float:
        """Where a frame plays on the session clock, seconds from the session start."""
        return frame / self.fps

    def start(self) -> None:
        """Starts the clock: frame 0 plays :attr:`lead_seconds` from now."""
        self._start = self._now() + self.lead_seconds

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was called."""
        return self._start is not None

    def position_seconds(self) -> float:
        """The session clock now: seconds since frame 0 played (negative before)."""
        if self._start is None:
            raise RuntimeError("the session clock has not started")
        return self._now() - self._start

    def wait_seconds(self, frame: int) -> float:
        """Seconds until a frame is due to be sent; 0 or less when it is due."""
        return self.frame_seconds(frame) - self.lead_seconds - self.position_seconds()
