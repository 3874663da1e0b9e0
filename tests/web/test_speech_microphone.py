"""The web front's microphone relay on its own: a WebRTC-like track in, Converse audio out."""

from __future__ import annotations

import asyncio

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket
from prometheus_client import CollectorRegistry

from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.web.metrics import WebMetrics
from avatar_gateway.web.microphone import (
    RELEASE_TAIL_SECONDS,
    SAMPLE_RATE,
    Microphone,
    SpeechEvents,
    hurry_receiver,
)

pytestmark = pytest.mark.asyncio(loop_scope="function")

FRAME_SAMPLES = 960  # 20 ms at 48 kHz, as aiortc's Opus decoder delivers them


class FakeTrack:
    """Frames of a 48 kHz stereo tone, as aiortc's remote audio track gives them."""

    kind = "audio"

    def __init__(self) -> None:
        self.frames: asyncio.Queue[av.AudioFrame | None] = asyncio.Queue()
        self.pts = 0

    def push(self, count: int, amplitude: float = 0.3) -> None:
        for _ in range(count):
            t = (self.pts + np.arange(FRAME_SAMPLES)) / 48_000
            mono = (amplitude * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
            stereo = np.repeat(mono, 2).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
            frame.sample_rate = 48_000
            frame.pts = self.pts
            self.pts += FRAME_SAMPLES
            self.frames.put_nowait(frame)

    def end(self) -> None:
        self.frames.put_nowait(None)

    async def recv(self) -> av.AudioFrame:
        frame = await self.frames.get()
        if frame is None:
            raise MediaStreamError
        return frame


def _chunks(sent: list[gateway_pb2.ConverseRequest]):
    return [request.audio for request in sent]


async def test_audio_is_sent_only_while_listening_at_16_khz_with_gaps_on_its_clock():
    sent: list[gateway_pb2.ConverseRequest] = []
    track = FakeTrack()
    microphone = Microphone(track, sent.append)
    task = asyncio.create_task(microphone.run())
    track.push(25)  # 0.5 s before the page listens: not sent
    await asyncio.sleep(0.05)
    assert sent == []
    microphone.listen(True)
    track.push(50)  # 1 s
    await asyncio.sleep(0.05)
    microphone.listen(False)  # the button let go: the tail of silence
    track.push(25)  # 0.5 s not sent
    await asyncio.sleep(0.05)
    microphone.listen(True)
    track.push(25)
    track.end()
    await asyncio.wait_for(task, 5)

    chunks = _chunks(sent)
    assert all(chunk.sample_rate == SAMPLE_RATE for chunk in chunks)
    offsets = [chunk.sample_offset for chunk in chunks]
    assert offsets[0] == 0 and offsets == sorted(offsets)
    spans = [(c.sample_offset, c.sample_offset + len(c.pcm) // 2) for c in chunks]
    # The first second and its tail are contiguous; the tail is silence.
    tail_start = next(i for i, c in enumerate(chunks) if not any(c.pcm))
    assert spans[tail_start][0] == spans[tail_start - 1][1]
    first_second = spans[tail_start][0]
    assert abs(first_second - SAMPLE_RATE) <= SAMPLE_RATE * 0.02  # resampler delay
    assert spans[tail_start][1] - spans[tail_start][0] == round(RELEASE_TAIL_SECONDS * SAMPLE_RATE)
    # Pressed again: offsets go on from where the received audio is, past the gap.
    after = chunks[tail_start + 1]
    assert after.sample_offset >= spans[tail_start][1]
    heard = np.frombuffer(after.pcm, "<i2")
    assert np.abs(heard).max() > 0.2 * 32767  # the tone, resampled to mono


async def test_the_end_of_speech_is_placed_at_the_arrival_of_its_audio():
    sent: list[gateway_pb2.ConverseRequest] = []
    track = FakeTrack()
    microphone = Microphone(track, sent.append)
    microphone.listen(True)
    task = asyncio.create_task(microphone.run())
    assert microphone.monotonic_at(0.1) is None
    track.push(10)
    await asyncio.sleep(0.3)  # the next frames arrive later than their place on the clock
    track.push(10)
    await asyncio.sleep(0.05)
    early, late = microphone.monotonic_at(0.1), microphone.monotonic_at(0.35)
    assert late - early >= 0.25
    track.end()
    await asyncio.wait_for(task, 5)
    # End of speech -> first answer audio counts from that arrival.
    registry = CollectorRegistry()
    events = SpeechEvents(WebMetrics(registry), lambda *args, **fields: None)
    events.microphone = microphone
    events.heard(
        gateway_pb2.UserSpeech(kind=gateway_pb2.USER_SPEECH_KIND_ENDED, start_seconds=0.35)
    )
    events.heard(gateway_pb2.UserSpeech(kind=gateway_pb2.USER_SPEECH_KIND_FINAL, turn=3))
    events.first_audio(3, late + 0.8)
    events.first_audio(3, late + 5.0)  # only a turn's first audio counts
    name = "avatar_web_end_of_speech_to_first_audio_seconds"
    assert registry.get_sample_value(f"{name}_count") == 1
    assert registry.get_sample_value(f"{name}_sum") == pytest.approx(0.8)


async def test_speech_events_reach_the_page_and_the_metrics():
    registry = CollectorRegistry()
    metrics = WebMetrics(registry)
    emitted: list[tuple[str, dict]] = []
    events = SpeechEvents(
        metrics, lambda event_type, **fields: emitted.append((event_type, fields))
    )
    speech = gateway_pb2.UserSpeech
    events.heard(speech(kind=gateway_pb2.USER_SPEECH_KIND_STARTED, barge_in=True))
    events.heard(speech(kind=gateway_pb2.USER_SPEECH_KIND_FINAL, text="Hello there.", turn=2))
    events.heard(speech(kind=gateway_pb2.USER_SPEECH_KIND_ERROR, error_code="FAILED_PRECONDITION"))
    kinds = [fields["kind"] for _, fields in emitted]
    assert kinds == ["started", "final", "error"]
    assert emitted[1][1]["text"] == "Hello there." and emitted[1][1]["turn"] == 2
    assert "not available on this server" in emitted[2][1]["error"]
    assert registry.get_sample_value("avatar_web_voice_barge_ins_total") == 1
    assert (
        registry.get_sample_value("avatar_web_speech_errors_total", {"code": "FAILED_PRECONDITION"})
        == 1
    )


def _released_after(buffer) -> list[int]:
    """Feeds 20 ms audio packets in order; the sequence numbers of the frames handed on,
    per packet added."""
    released = []
    for sequence in range(8):
        packet = RtpPacket(payload_type=111, sequence_number=sequence, timestamp=960 * sequence)
        packet._data = b"opus"
        _, frame = buffer.add(packet)
        released.append(-1 if frame is None else frame.timestamp // 960)
    return released


async def test_the_microphone_receiver_hands_each_packet_on_when_the_next_comes():
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("audio", direction="sendrecv").receiver
        name = "_RTCRtpReceiver__jitter_buffer"
        # aiortc's own buffer holds four packets (80 ms) before the first comes out.
        assert _released_after(getattr(receiver, name))[:5] == [-1, -1, -1, -1, 0]
        assert hurry_receiver(receiver)
        assert _released_after(getattr(receiver, name)) == [-1, 0, 1, 2, 3, 4, 5, 6]
    finally:
        await pc.close()


async def test_a_receiver_without_aiortcs_buffer_is_left_alone():
    class Receiver:
        pass

    assert not hurry_receiver(Receiver())
