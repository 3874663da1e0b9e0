"""One stream's audio path, without gRPC: PCM in, voice activity and utterances out.

:class:`RecognitionSession` places each chunk on the stream's clock (a gap becomes
silence, an overlap is refused), resamples it to 16 kHz, runs voice activity on it and
end-points it. What it returns says what happened: speech started, speech ended (with the
utterance's audio, to transcribe), or a partial transcript is due (with the audio so far).
Times are seconds on the stream's clock: the client's sample offsets over its rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar_asr.audio import MODEL_RATE, AudioFormatError, StreamResampler, pcm_to_float
from avatar_asr.endpointing import (
    Endpointer,
    EndpointSettings,
    EndReason,
    SpeechEnd,
    SpeechStart,
)
from avatar_asr.vad import WINDOW_SAMPLES, WINDOW_SECONDS, VoiceActivityModel

PAD_SECONDS = 0.2
"""Audio kept before an utterance for the recogniser (its first sounds are often quieter
than the voice-activity threshold)."""
TAIL_PAD_SECONDS = 0.128
"""Audio kept after an utterance (four windows): enough for its soft last sounds, and short,
since the early transcription cannot start before this much silence has come."""


class StreamInputError(AudioFormatError):
    """A chunk does not fit the stream (rate, position, length); the message says why."""


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """What one stream was configured with.

    Attributes:
        sample_rate: Rate of the client's PCM.
        endpoint: Thresholds and lengths of the end-pointing.
        interim_results: Whether partial transcripts are due while speech goes on.
        partial_interval_seconds: Speech between partials.
        max_stream_seconds: Longest stream.
        early_transcription: Whether utterances are handed over for transcription once
            the silence after them covers the padding, before it ends them.
    """

    sample_rate: int
    endpoint: EndpointSettings
    interim_results: bool = False
    partial_interval_seconds: float = 1.0
    max_stream_seconds: float = 4 * 3600.0
    early_transcription: bool = True


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Speech began."""

    utterance: int
    time_seconds: float


@dataclass(frozen=True, slots=True)
class Utterance:
    """Audio of an utterance (or of its beginning, for a partial) to transcribe.

    Attributes:
        utterance: Its index.
        start_seconds: Where the speech starts, on the stream's clock.
        end_seconds: Where it ends (partial: the audio so far).
        audio: 16 kHz samples, padded on both sides where audio exists.
        audio_start_seconds: The time of ``audio[0]``.
        final: Whether the utterance ended (else a partial, or an early final, is due).
        reason: Why it ended (finals only).
        early: Whether this is the utterance as it will be if the silence going on lasts:
            the same audio its final will have, sent before the silence is long enough to
            end it, so the final can come from a transcription already made.
    """

    utterance: int
    start_seconds: float
    end_seconds: float
    audio: np.ndarray
    audio_start_seconds: float
    final: bool
    reason: EndReason | None = None
    early: bool = False


SessionEvent = SpeechStarted | Utterance


class RecognitionSession:
    """Voice activity and end-pointing of one stream.

    Args:
        vad: The shared Silero model.
        settings: The stream's settings.
    """

    def __init__(self, vad: VoiceActivityModel, settings: SessionSettings) -> None:
        self.settings = settings
        self.utterances = 0
        self.speech_seconds = 0.0
        self._received = 0
        self._resampler = StreamResampler(settings.sample_rate, MODEL_RATE)
        self._vad = vad.stream()
        self._endpointer = Endpointer(settings.endpoint)
        self._audio = np.zeros(0, dtype=np.float32)  # 16 kHz, from sample self._audio_start
        self._audio_start = 0
        self._fed = 0  # 16 kHz samples given to the voice-activity model
        self._last_partial_window = 0
        self._current_start = 0
        self._early_for: int | None = None  # the silence start an early final was made for
        self._pad_windows = math.ceil(TAIL_PAD_SECONDS / WINDOW_SECONDS - 1e-9)

    @property
    def audio_seconds(self) -> float:
        """Audio received so far, seconds."""
        return self._received / self.settings.sample_rate

    def add_audio(self, pcm: bytes, sample_offset: int, sample_rate: int = 0) -> list[SessionEvent]:
        """Adds a chunk at ``sample_offset``; returns what it made happen.

        Raises:
            StreamInputError: The chunk's rate is not the stream's, it overlaps earlier
                audio, or the stream grows past its limit.
            AudioFormatError: The bytes are not whole s16le samples.
        """
        rate = self.settings.sample_rate
        if sample_rate and sample_rate != rate:
            raise StreamInputError(f"audio chunk at {sample_rate} Hz in a {rate} Hz stream")
        samples = pcm_to_float(pcm)
        if sample_offset < self._received:
            raise StreamInputError(
                f"audio chunk at sample {sample_offset} overlaps earlier audio "
                f"(expected {self._received})"
            )
        limit = self.settings.max_stream_seconds
        if (sample_offset + len(samples)) / rate > limit:
            raise StreamInputError(f"stream longer than the {limit:g} s limit: open a new one")
        gap = sample_offset - self._received
        if gap:
            samples = np.concatenate([np.zeros(gap, dtype=np.float32), samples])
        self._received += len(samples)
        return self._take(self._resampler.process(samples))

    def finish(self) -> list[SessionEvent]:
        """Ends the input: the resampler's tail is read and speech going on ends."""
        events = self._take(self._resampler.flush())
        for boundary in self._endpointer.finish():
            events.append(self._ended(boundary))
        return events

    def _take(self, samples: np.ndarray) -> list[SessionEvent]:
        self._audio = np.concatenate([self._audio, samples])
        events: list[SessionEvent] = []
        probabilities = self._vad.process(samples)
        for probability in probabilities:
            self._fed += WINDOW_SAMPLES
            for boundary in self._endpointer.push(float(probability)):
                if isinstance(boundary, SpeechStart):
                    events.append(self._started(boundary))
                else:
                    events.append(self._ended(boundary))
        if len(probabilities):
            due = self._early_due() or self._partial_due()
            if due is not None:
                events.append(due)
        self._trim()
        return events

    def _started(self, boundary: SpeechStart) -> SpeechStarted:
        self._last_partial_window = self._current_start = boundary.window
        return SpeechStarted(self.utterances, boundary.window * WINDOW_SECONDS)

    def _ended(self, boundary: SpeechEnd) -> Utterance:
        # Not the end-pointer's start: after a cut it has already begun the next utterance.
        start = self._current_start
        index = self.utterances
        self.utterances += 1
        start_seconds = start * WINDOW_SECONDS
        end_seconds = min(boundary.window * WINDOW_SECONDS, self._fed / MODEL_RATE)
        end_seconds = max(end_seconds, start_seconds)
        self.speech_seconds += end_seconds - start_seconds
        audio, audio_start = self._slice(
            start_seconds - PAD_SECONDS, end_seconds + TAIL_PAD_SECONDS
        )
        return Utterance(
            index, start_seconds, end_seconds, audio, audio_start, True, boundary.reason
        )

    def _early_due(self) -> Utterance | None:
        """The utterance as it ends if the silence going on lasts, once per silence."""
        silence = self._endpointer.silence_start
        if not self.settings.early_transcription or silence is None:
            return None
        if silence == self._early_for or self._endpointer.windows - silence < self._pad_windows:
            return None
        if self._endpointer.windows - silence >= self.settings.endpoint.silence_windows:
            return None  # it has ended already: the final itself is on its way
        self._early_for = silence
        start_seconds = self._current_start * WINDOW_SECONDS
        end_seconds = silence * WINDOW_SECONDS
        audio, audio_start = self._slice(
            start_seconds - PAD_SECONDS, end_seconds + TAIL_PAD_SECONDS
        )
        return Utterance(
            self.utterances, start_seconds, end_seconds, audio, audio_start, False, early=True
        )

    def _partial_due(self) -> Utterance | None:
        endpointer = self._endpointer
        if not (self.settings.interim_results and endpointer.in_speech):
            return None
        if endpointer.silence_start is not None:
            # A silence may be ending the utterance: its final (made early) goes first, and
            # a partial would only hold up the transcriptions it needs.
            return None
        due = self.settings.partial_interval_seconds / WINDOW_SECONDS
        if endpointer.windows - self._last_partial_window < due:
            return None
        self._last_partial_window = endpointer.windows
        start_seconds = endpointer.speech_start * WINDOW_SECONDS
        end_seconds = self._fed / MODEL_RATE
        audio, audio_start = self._slice(start_seconds - PAD_SECONDS, end_seconds)
        return Utterance(self.utterances, start_seconds, end_seconds, audio, audio_start, False)

    def _slice(self, start_seconds: float, end_seconds: float) -> tuple[np.ndarray, float]:
        """16 kHz audio between two times (as much of it as is kept), and its start time."""
        first = max(self._audio_start, math.floor(start_seconds * MODEL_RATE))
        last = min(self._audio_start + len(self._audio), math.ceil(end_seconds * MODEL_RATE))
        audio = self._audio[first - self._audio_start : max(first, last) - self._audio_start]
        return audio.copy(), first / MODEL_RATE

    def _trim(self) -> None:
        """Drops audio no utterance can still need."""
        if self._endpointer.in_speech:
            keep_from = self._endpointer.speech_start * WINDOW_SAMPLES
        else:
            keep_from = self._fed
        keep_from -= round(PAD_SECONDS * MODEL_RATE)
        drop = min(max(0, keep_from - self._audio_start), len(self._audio))
        self._audio, self._audio_start = self._audio[drop:], self._audio_start + drop
