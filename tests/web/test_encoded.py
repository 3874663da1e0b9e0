"""The web front's Opus packets: gapless on the wire, each with its own sound."""

from __future__ import annotations

import numpy as np
from aiortc.codecs.opus import SAMPLE_RATE, SAMPLES_PER_FRAME, OpusDecoder
from aiortc.jitterbuffer import JitterFrame

from avatar.common.v1 import media_pb2
from avatar_gateway.web.encoded import OpusPacketTrack
from avatar_gateway.web.timeline import SessionClock
from avatar_gateway.web.tracks import SessionAudioTrack

RATE = 24_000
SLOT = 960  # samples of a 25 fps frame at 24 kHz


def _chunk(frame: int, value: int, frames: int = 1) -> media_pb2.AudioChunk:
    pcm = value.to_bytes(2, "little", signed=True) * (SLOT * frames)
    return media_pb2.AudioChunk(pcm=pcm, sample_rate=RATE, sample_offset=frame * SLOT)


async def test_packets_count_the_samples_sent_when_idle_is_skipped_and_keep_their_sound():
    events: list[tuple[str, int, int]] = []
    source = SessionAudioTrack(SessionClock(), RATE, 25.0, lambda *event: events.append(event))
    track = OpusPacketTrack(source)
    held = 10  # 400 ms of idle held: the speech that follows skips most of it
    source.add(_chunk(0, 0, held), turn=0)
    first = await track.recv()
    source.add(_chunk(held, 3000, 6), turn=1)
    decoder = OpusDecoder()
    stamps, opened, loud = [first.pts], None, None
    for number in range(1, 12):
        packet = await track.recv()
        stamps.append(packet.pts)
        if opened is None and ("audio", 1) in [event[:2] for event in events]:
            opened = number
        decoded = decoder.decode(JitterFrame(data=bytes(packet), timestamp=packet.pts))
        sound = np.abs(np.concatenate([frame.to_ndarray().reshape(-1) for frame in decoded]))
        if loud is None and sound.max() > 1500:
            loud = number
    assert source.clock.shift < -0.2  # the content skipped ahead...
    assert stamps == [960 * number for number in range(12)]  # ...the wire did not
    assert opened is not None
    assert loud == opened  # the speech is heard in the packet that opens it


async def test_stopping_the_packets_stops_the_audio_they_encode():
    source = SessionAudioTrack(SessionClock(), RATE, 25.0, lambda *event: None)
    track = OpusPacketTrack(source)
    track.stop()
    assert source.readyState == "ended"


async def test_the_sound_leaves_the_decoder_within_its_low_delay_look_ahead():
    source = SessionAudioTrack(SessionClock(), RATE, 25.0, lambda *event: None)
    track = OpusPacketTrack(source)
    source.add(_chunk(0, 0, 2), turn=0)
    source.add(_chunk(2, 3000, 4), turn=1)
    decoder = OpusDecoder()
    decoded = []
    for _ in range(8):
        packet = await track.recv()
        frames = decoder.decode(JitterFrame(data=bytes(packet), timestamp=packet.pts))
        decoded.extend(frame.to_ndarray().reshape(-1)[::2] for frame in frames)  # left
    sound = np.abs(np.concatenate(decoded).astype(np.int32))
    first = int(np.flatnonzero(sound > 1500)[0])
    # The speech opens a packet (the idle before it is skipped): it sounds that far in.
    assert 0 < first % SAMPLES_PER_FRAME <= 0.003 * SAMPLE_RATE  # 2.5 ms, not voip's 6.5
