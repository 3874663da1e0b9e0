"""The page's microphone: from its WebRTC track into the session's Converse stream.

The page sends its microphone on the audio transceiver it offered as ``sendrecv``.
:class:`Microphone` reads that track, resamples it to 16 kHz mono s16le, and sends it to
the gateway as ``ConverseRequest.audio`` while the page listens: always in hands-free
mode, only while the button is held in push-to-talk (the page says which over the data
channel). When the button is let go, a short tail of silence follows, so the asr
service's end-pointing ends the utterance at once. Sample offsets count every sample
received, sent or not, so a pause is a gap (silence) on the microphone's clock.

:class:`SpeechEvents` turns the gateway's ``UserSpeech`` events into the page's events
and the web front's speech metrics (end of speech -> first answer audio, voice
barge-ins).
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import av
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.web.metrics import WebMetrics

LOG = logging.getLogger("avatar.web.microphone")
SAMPLE_RATE = 16_000
# Silence sent after push-to-talk is let go: more than the asr service's default
# end-of-speech silence (300 ms by default), so the utterance ends without waiting for more audio.
RELEASE_TAIL_SECONDS = 0.7
# Arrival times kept for the audio sent: more than the longest utterance (the asr
# service cuts utterances at 30 s by default) plus the end-of-speech silence.
ARRIVALS_KEPT = 2_000
# Packets the microphone's receive buffer holds before it hands the first one on.
MICROPHONE_PREFETCH_PACKETS = 1
SPEECH_KINDS = {
    gateway_pb2.USER_SPEECH_KIND_STARTED: "started",
    gateway_pb2.USER_SPEECH_KIND_ENDED: "ended",
    gateway_pb2.USER_SPEECH_KIND_PARTIAL: "partial",
    gateway_pb2.USER_SPEECH_KIND_FINAL: "final",
    gateway_pb2.USER_SPEECH_KIND_ERROR: "error",
}


def hurry_receiver(receiver: Any) -> bool:
    """Makes an aiortc audio receiver hand each packet on as soon as it is whole.

    aiortc holds four audio packets (80 ms) in a receiver's jitter buffer before it hands
    the first one on: a cushion for playing sound smoothly. The microphone's audio goes to
    a recogniser, not a loudspeaker, and the cushion only delays the end of every utterance
    by 80 ms. The receiver's buffer is replaced by one that holds a single packet (a packet
    is known whole when the next one comes); packets out of order still come out in order.

    Returns:
        Whether the buffer was replaced (False for a receiver without one, left alone).
    """
    name = "_RTCRtpReceiver__jitter_buffer"  # aiortc 1.16's private attribute
    buffer = getattr(receiver, name, None)
    if not isinstance(buffer, JitterBuffer):
        return False
    setattr(receiver, name, JitterBuffer(buffer.capacity, prefetch=MICROPHONE_PREFETCH_PACKETS))
    return True


class Microphone:
    """Relays one WebRTC audio track to the gateway as 16 kHz PCM.

    Args:
        track: The page's microphone track (aiortc's remote track).
        send: Puts a request on the session's Converse stream.
    """

    def __init__(self, track: Any, send: Callable[[gateway_pb2.ConverseRequest], None]) -> None:
        self.track = track
        self.send = send
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self.listening = False
        self.tail_samples = 0
        self.received = 0  # samples at 16 kHz received from the track
        self.sent_until = 0  # the end of the audio sent, samples on the received count
        self.origin: int | None = None  # the received count of the first sample sent
        # (end of a chunk sent, seconds on the microphone's clock; its time.monotonic()).
        self.arrivals: deque[tuple[float, float]] = deque(maxlen=ARRIVALS_KEPT)
        self.chunks_sent = 0

    def listen(self, on: bool) -> None:
        """Starts or stops sending; stopping sends a short tail of silence first."""
        if self.listening and not on:
            self._send_silence(round(RELEASE_TAIL_SECONDS * SAMPLE_RATE))
        self.listening = on

    def monotonic_at(self, seconds: float) -> float | None:
        """``time.monotonic()`` when the sample ``seconds`` into the sent audio arrived.

        Looked up in the chunks' arrivals, not reckoned from the first one: packets lost
        or late on a loaded machine would make the microphone's clock lag the wall's.
        """
        if not self.arrivals:
            return None
        ends = [end for end, _ in self.arrivals]
        index = min(bisect.bisect_left(ends, seconds), len(ends) - 1)
        return self.arrivals[index][1]

    async def run(self) -> None:
        """Reads the track until it ends (the page closed or replaced its microphone)."""
        while True:
            try:
                frame = await self.track.recv()
            except MediaStreamError:
                return
            arrived = time.monotonic()
            for resampled in self.resampler.resample(frame):
                pcm = resampled.to_ndarray().reshape(-1).astype("<i2").tobytes()
                self._received(pcm, arrived)

    def _received(self, pcm: bytes, arrived: float) -> None:
        count = len(pcm) // 2
        start, self.received = self.received, self.received + count
        if not self.listening:
            return
        skip = max(0, self.sent_until - start)  # already covered by a silence tail
        if skip >= count:
            return
        if self.origin is None:
            self.origin = start + skip
        self._send(pcm[skip * 2 :], start + skip)
        self.arrivals.append(((self.sent_until - self.origin) / SAMPLE_RATE, arrived))

    def _send_silence(self, count: int) -> None:
        if self.origin is None:
            return
        start = max(self.received, self.sent_until)
        self._send(bytes(count * 2), start)

    def _send(self, pcm: bytes, start: int) -> None:
        assert self.origin is not None
        chunk = media_pb2.AudioChunk(
            pcm=pcm, sample_rate=SAMPLE_RATE, sample_offset=start - self.origin
        )
        self.send(gateway_pb2.ConverseRequest(audio=chunk))
        self.sent_until = start + len(pcm) // 2
        self.chunks_sent += 1


class SpeechEvents:
    """The gateway's ``UserSpeech`` events, for the page and the speech metrics.

    Args:
        metrics: Where the speech latencies and barge-ins are counted.
        emit: Sends an event to the page.
    """

    def __init__(self, metrics: WebMetrics, emit: Callable[..., None]) -> None:
        self.metrics = metrics
        self.emit = emit
        self.microphone: Microphone | None = None
        self.ended_at: float | None = None  # the last utterance's end of speech (monotonic)
        self.turn_ends: dict[int, float] = {}  # speech turn -> its end of speech

    def heard(self, speech: gateway_pb2.UserSpeech) -> None:
        """One ``UserSpeech`` event: to the page, and into the metrics."""
        kind = SPEECH_KINDS.get(speech.kind, "error")
        if kind == "started" and speech.barge_in:
            self.metrics.voice_barge_ins.inc()
        if kind == "ended" and self.microphone is not None:
            self.ended_at = self.microphone.monotonic_at(speech.start_seconds)
        if kind == "final" and speech.turn and self.ended_at is not None:
            self.turn_ends[speech.turn] = self.ended_at
        if kind == "error":
            self.metrics.speech_errors.labels(speech.error_code or "UNKNOWN").inc()
        self.emit(
            "user_speech",
            kind=kind,
            utterance=speech.utterance,
            text=speech.text,
            start_seconds=speech.start_seconds,
            end_seconds=speech.end_seconds,
            turn=speech.turn,
            barge_in=speech.barge_in,
            echo=speech.echo,
            error_code=speech.error_code,
            error=_speech_error(speech) if kind == "error" else "",
        )

    def first_audio(self, turn: int, now: float) -> None:
        """A turn's first audio went to WebRTC: end of speech -> first answer audio."""
        ended_at = self.turn_ends.pop(turn, None)
        if ended_at is not None:
            self.metrics.end_of_speech_to_first_audio.observe(max(0.0, now - ended_at))


def _speech_error(speech: gateway_pb2.UserSpeech) -> str:
    if speech.error_code == "FAILED_PRECONDITION":
        return "Speech input is not available on this server (it has no speech recognition)."
    if speech.error_code == "UNAVAILABLE":
        return "Speech recognition is not reachable right now; type instead, or try again soon."
    return f"Your speech could not be heard: {speech.error_message or speech.error_code}"
