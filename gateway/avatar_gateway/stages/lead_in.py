"""A turn's first sound as soon as it can be heard: the voice's quiet lead-in, trimmed.

Voices begin an utterance with quiet: hibari keeps 125 ms of its model's leading pad, and
the first phoneme's own soft start follows. Between sentences that quiet is the pause a
listener expects; before the first sentence of a request it is only waiting, heard as
latency (a live turn's answer starts that much later). :class:`LeadInTrimmer` holds the
first sentence's speech parts until its first audible sample, then passes them on with
the quiet before it cut down to :data:`KEPT_SECONDS`, the audio's sample offsets and the
timings moved earlier by the same amount, so audio, phonemes and frames stay together.

Holding costs no time to the first sound: nothing audible is held back, and a voice that
makes a whole sentence at once (hibari) hands over its quiet and its speech together.
Speech that starts loud, or that stays quiet longer than :data:`LONGEST_LEAD_IN_SECONDS`
(a deliberate pause, or silence), is passed on unchanged.
"""

from __future__ import annotations

import numpy as np

from avatar.common.v1 import media_pb2
from avatar_gateway.stages.events import SpeechPart

AUDIBLE_AMPLITUDE = 164
"""The first sample at least this loud (-46 dBFS of s16) is the start of the sound."""

KEPT_SECONDS = 0.01
"""Quiet kept before the first sound: a quarter of a frame at 25 fps, room for a soft onset
below the threshold (the frame it falls in already starts to open the mouth)."""

LONGEST_LEAD_IN_SECONDS = 1.0
"""Quiet longer than this is not a lead-in: the speech is passed on unchanged."""


class LeadInTrimmer:
    """Cuts the quiet before the first sound of one sentence's speech parts.

    Feed every part of the sentence in order to :meth:`add`, then call :meth:`finish`;
    each returns the parts to pass on now.

    Args:
        sample_rate: Samples per second of the sentence's audio.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.cut_samples: int | None = None  # decided once the first sound is seen
        self._held: list[SpeechPart] = []
        self._held_samples = 0
        self._longest = round(LONGEST_LEAD_IN_SECONDS * sample_rate)
        self._kept = round(KEPT_SECONDS * sample_rate)

    def add(self, part: SpeechPart) -> list[SpeechPart]:
        """Takes the next part; returns what can be passed on now."""
        if self.cut_samples is not None:
            return [self._shifted(part)]
        self._held.append(part)
        if isinstance(part, media_pb2.AudioChunk):
            samples = np.frombuffer(part.pcm[: len(part.pcm) // 2 * 2], dtype="<i2")
            loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= AUDIBLE_AMPLITUDE)
            if loud.size:
                onset = self._held_samples + int(loud[0])
                self._decide(onset - self._kept if onset <= self._longest else 0)
            else:
                self._held_samples += len(samples)
                if self._held_samples > self._longest:
                    self._decide(0)
        return self._release() if self.cut_samples is not None else []

    def finish(self) -> list[SpeechPart]:
        """The sentence's speech ended: what is still held, unchanged if no sound came."""
        if self.cut_samples is None:
            self._decide(0)
        return self._release()

    def _decide(self, cut: int) -> None:
        self.cut_samples = max(0, cut)

    def _release(self) -> list[SpeechPart]:
        held, self._held = self._held, []
        released = [self._shifted(part) for part in held]
        return [part for part in released if part is not None]

    def _shifted(self, part: SpeechPart) -> SpeechPart | None:
        cut = self.cut_samples or 0
        if not cut:
            return part
        if isinstance(part, media_pb2.AudioChunk):
            return _audio_after(part, cut)
        if isinstance(part, media_pb2.TimingTrack):
            return _timings_after(part, cut / self.sample_rate)
        return part


def _audio_after(chunk: media_pb2.AudioChunk, cut: int) -> media_pb2.AudioChunk | None:
    """The chunk's samples from ``cut`` on, at their new offsets; None when all are cut."""
    drop = max(0, cut - chunk.sample_offset)
    pcm = chunk.pcm[2 * drop :]
    if not pcm:
        return None
    return media_pb2.AudioChunk(
        pcm=pcm,
        sample_rate=chunk.sample_rate,
        sample_offset=max(0, chunk.sample_offset - cut),
    )


def _timings_after(track: media_pb2.TimingTrack, cut_seconds: float) -> media_pb2.TimingTrack:
    """The track moved ``cut_seconds`` earlier; what ends before the cut is dropped."""
    moved = media_pb2.TimingTrack()
    for items, kept in ((track.phonemes, moved.phonemes), (track.words, moved.words)):
        for item in items:
            if item.end_seconds > cut_seconds:
                copy = kept.add()
                copy.CopyFrom(item)
                copy.start_seconds = max(0.0, item.start_seconds - cut_seconds)
                copy.end_seconds = item.end_seconds - cut_seconds
    return moved
