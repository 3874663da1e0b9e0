"""The web front's resampling to 48 kHz: faithful, and each packet keeps its own sound."""

from __future__ import annotations

import numpy as np
import pytest
from aiortc.codecs.opus import OpusEncoder

from avatar.common.v1 import media_pb2
from avatar_gateway.web.resample import HALF_TAPS, OUTPUT_RATE, PacketResampler
from avatar_gateway.web.timeline import SessionClock
from avatar_gateway.web.tracks import SessionAudioTrack


def _packets(signal: np.ndarray, rate: int, resampler: PacketResampler) -> list[np.ndarray]:
    """``signal`` resampled 20 ms at a time, each packet with what follows it."""
    size = rate // 50
    pcm = signal.astype("<i2").tobytes()
    return [
        resampler.resample(pcm[2 * start : 2 * (start + size)], pcm[2 * (start + size) :])
        for start in range(0, signal.size, size)
    ]


@pytest.mark.parametrize("rate", [16_000, 22_050, 24_000, 44_100])
def test_a_tone_cut_into_packets_comes_out_whole_at_48_khz(rate):
    seconds = np.arange(rate // 2) / rate  # 500 ms
    tone = 8000 * np.sin(2 * np.pi * 440 * seconds) + 4000 * np.sin(2 * np.pi * 3100 * seconds)
    packets = _packets(np.rint(tone), rate, PacketResampler(rate))
    assert {packet.size for packet in packets} == {960}
    out = np.concatenate(packets).astype(np.float64)
    at = np.arange(out.size) / OUTPUT_RATE
    expected = 8000 * np.sin(2 * np.pi * 440 * at) + 4000 * np.sin(2 * np.pi * 3100 * at)
    inner = slice(4 * HALF_TAPS, -4 * HALF_TAPS)  # away from the silence at both ends
    assert np.abs(out - expected)[inner].max() < 8  # under -70 dB of the tone
    # No seam where the packets meet.
    assert np.abs(np.diff(out[inner])).max() < 1.2 * np.abs(np.diff(expected)).max()


def test_what_lies_above_the_output_band_is_cut_when_the_rate_comes_down():
    rate = 96_000
    seconds = np.arange(rate // 5) / rate
    high = np.rint(8000 * np.sin(2 * np.pi * 30_000 * seconds))  # above 24 kHz: would alias
    out = np.concatenate(_packets(high, rate, PacketResampler(rate))).astype(np.float64)
    assert out.size == OUTPUT_RATE // 5
    assert np.sqrt(np.mean(out[100:-100] ** 2)) < 8000 / np.sqrt(2) / 100  # below -40 dB


def test_48_khz_passes_unchanged():
    resampler = PacketResampler(OUTPUT_RATE)
    samples = np.arange(-480, 480, dtype="<i2")
    assert resampler.lookahead == 0
    assert np.array_equal(resampler.resample(samples.tobytes()), samples)


def test_a_rate_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        PacketResampler(0)


async def test_speech_opening_a_packet_leaves_with_that_packet_through_the_opus_encoder():
    """The encoder aiortc uses regroups its input into 20 ms frames at 48 kHz: fed the
    track's packets, the speech that opens one must come out in the same frame, not the
    next (which a resampler without the audio that follows would cause)."""
    rate, slot = 24_000, 960
    events: list[tuple[str, int, int]] = []
    track = SessionAudioTrack(SessionClock(), rate, 25.0, lambda *event: events.append(event))
    track.add(media_pb2.AudioChunk(pcm=bytes(2 * slot), sample_rate=rate), turn=0)
    speech = (3000).to_bytes(2, "little", signed=True) * (4 * slot)
    track.add(media_pb2.AudioChunk(pcm=speech, sample_rate=rate, sample_offset=slot), turn=1)
    encoder = OpusEncoder()
    opened = loud = None
    for number in range(6):
        packet = await track.recv()
        assert (packet.sample_rate, packet.samples) == (OUTPUT_RATE, 960)
        if opened is None and ("audio", 1) in [event[:2] for event in events]:
            opened = number
        for regrouped in encoder.resampler.resample(packet):
            left = np.abs(regrouped.to_ndarray().reshape(-1, 2)[:, 0])
            if loud is None and left.max() > 1500:
                loud = (number, int(np.flatnonzero(left > 1500)[0]))
    assert opened is not None
    assert loud is not None
    assert loud[0] == opened  # out with the packet it opens
    assert loud[1] < HALF_TAPS  # from that packet's start
