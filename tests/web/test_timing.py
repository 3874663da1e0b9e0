"""The web front's tracks: a turn's speech plays as soon as it arrives, frames leave early.

These drive one audio or video track directly on the real clock (no browser): what is
asserted is where content lies on the session clock and bounds a loaded machine can only
make safer (it can delay a recv, never hurry it).
"""

from __future__ import annotations

import time

import av
import numpy as np
import pytest

from avatar.common.v1 import media_pb2
from avatar_core.config import ConfigError
from avatar_core.frames import RGB24, decode_frame, encode_frame
from avatar_gateway.web.config import VIDEO_AHEAD_SECONDS, WebConfig
from avatar_gateway.web.resample import HALF_TAPS
from avatar_gateway.web.timeline import SessionClock
from avatar_gateway.web.tracks import (
    MAX_ENCODE_LEAD_SECONDS,
    SPEECH_LEAD_SECONDS,
    FramePlanes,
    SessionAudioTrack,
    SessionVideoTrack,
    _to_video_frame,
)

RATE = 24_000
FPS = 25.0
SLOT = int(RATE / FPS)  # 960 samples a frame


def _chunk(frame: int, value: int) -> media_pb2.AudioChunk:
    pcm = value.to_bytes(2, "little", signed=True) * SLOT
    return media_pb2.AudioChunk(pcm=pcm, sample_rate=RATE, sample_offset=frame * SLOT)


def _track(events: list[tuple[str, int, int]]) -> SessionAudioTrack:
    clock = SessionClock()
    return SessionAudioTrack(clock, RATE, FPS, lambda *event: events.append(event))


async def _until_speech(track: SessionAudioTrack, events: list) -> tuple[int, np.ndarray]:
    """Receives packets until the speech's first one; returns how many idle ones came
    before it, and its samples."""
    idle = -1
    while not any(kind == "audio" and turn == 1 for kind, turn, _ in events):
        packet = await track.recv()
        idle += 1
    return idle, packet.to_ndarray().reshape(-1)


async def test_speech_arriving_behind_held_idle_skips_it_and_keeps_every_sample_of_speech():
    events: list[tuple[str, int, int]] = []
    track = _track(events)
    held = 10  # 400 ms of idle held ahead, as after the clock slipped on a loaded machine
    for frame in range(held):
        track.add(_chunk(frame, 0), turn=0)
    await track.recv()  # idle plays
    track.add(_chunk(held, 3000), turn=1)
    track.add(_chunk(held + 1, 3000), turn=1)
    idle, first = await _until_speech(track, events)
    clock = track.clock
    assert clock.shift < -0.2  # the session plays earlier: the idle held back was skipped
    # Left held before the speech: what covers the gateway's next tick, and less than a frame.
    assert idle * 0.02 <= SPEECH_LEAD_SECONDS + 1 / FPS
    speech_at = next(position for kind, turn, position in events if kind == "audio" and turn)
    assert speech_at == held * SLOT  # from its first sample
    heard = [first]
    for _ in range(3):
        frame = await track.recv()
        heard.append(frame.to_ndarray().reshape(-1))
    sound = np.concatenate(heard).astype(np.int32)
    assert sound.size == 4 * 960  # 80 ms at the encoder's 48 kHz
    # All of it, nothing skipped: the first packet is speech from its first sample on (the
    # resampling filter rings for a moment where the speech meets silence, at each end).
    reach = 2 * HALF_TAPS
    assert sound[:reach].mean() > 2000
    assert np.all(np.abs(sound[reach:-reach] - 3000) <= 1)


async def test_speech_arriving_with_little_held_is_not_hurried():
    events: list[tuple[str, int, int]] = []
    track = _track(events)
    track.add(_chunk(0, 0), turn=0)
    await track.recv()
    track.add(_chunk(1, 3000), turn=1)
    await _until_speech(track, events)
    assert track.clock.shift >= 0.0  # nothing was skipped: it was due soon anyway


async def test_late_audio_is_told_apart_in_speech_and_after_the_turn_ended():
    late: list[bool] = []
    track = SessionAudioTrack(SessionClock(), RATE, FPS, lambda *event: None, late.append)
    track.add(_chunk(0, 0), turn=0)
    track.add(_chunk(1, 3000), turn=1)
    while track.current_turn != 1:
        await track.recv()
    while not late:  # the turn's audio stops coming: the next packet is late
        await track.recv()
    assert late == [True]
    track.turn_ended(1)
    await track.recv()  # late again, now after the turn's speech
    assert late == [True, False]


async def test_a_stopped_turn_is_silent_from_the_next_packet():
    events: list[tuple[str, int, int]] = []
    track = _track(events)
    track.add(_chunk(0, 0), turn=0)
    await track.recv()
    for frame in range(1, 8):  # 280 ms of speech held
        track.add(_chunk(frame, 3000), turn=1)
    await _until_speech(track, events)
    track.hush()  # the page stopped it
    packet = await track.recv()
    # Silent from its start, but for the resampling filter's ring of the speech before it.
    assert not packet.to_ndarray().reshape(-1)[2 * HALF_TAPS :].any()
    assert events[-1][:2] == ("audio", 0)  # the idle loop's sound leaves again
    track.add(_chunk(8, 0), turn=0)  # the gateway's silence follows
    assert track.buffer.idle(track.next_offset, track.buffer.end)


def _batch(indices: range) -> media_pb2.FrameBatch:
    picture = np.full((16, 16, 3), 128, np.uint8)
    return media_pb2.FrameBatch(frames=[encode_frame(picture, i, RGB24) for i in indices])


@pytest.mark.parametrize("ahead", [0.0, 0.6])
async def test_frames_leave_the_set_time_before_their_sound(ahead):
    clock = SessionClock()
    video = SessionVideoTrack(clock, FPS, lambda *event: None, ahead_seconds=ahead)
    video.add(_batch(range(0, 50)), turn=0)
    clock.audio_sent(10.0)  # the sound is no reason to wait here
    await video.recv()
    index = video.next_index + 25  # a second on
    while video.next_index <= index:
        frame = await video.recv()
    left = time.monotonic()
    due = clock.due(index / FPS)
    # Never earlier than asked (less the encoder's allowance); early by most of it.
    assert left >= due - ahead - MAX_ENCODE_LEAD_SECONDS
    if ahead:
        assert left < due - ahead / 2
    assert frame.pts == video.pts(index)  # its timestamp is still that of its sound


async def test_frame_timestamps_keep_rising_when_the_content_moves_earlier():
    clock = SessionClock()
    shifts: list[tuple[int, float]] = []
    video = SessionVideoTrack(clock, FPS, lambda *event: None, lambda *s: shifts.append(s), 0.6)
    video.add(_batch(range(0, 100)), turn=0)
    clock.audio_sent(10.0)
    stamps = [(await video.recv()).pts for _ in range(16)]  # up to 0.6 s ahead of the sound
    clock.catch_up(0.3)  # idle skipped: the content plays 0.3 s earlier from now on
    stamps += [(await video.recv()).pts for _ in range(5)]
    assert all(later > earlier for earlier, later in zip(stamps, stamps[1:], strict=False))
    # What followed the shift continues the wire from the last frame sent, and says so.
    ((pts, shift),) = shifts
    assert shift == pytest.approx(-0.3) and pts == stamps[16]
    assert stamps[16] - stamps[15] <= 90_000 / FPS


def test_a_stopped_turn_drops_its_frames_held_and_keeps_the_idle_ones():
    video = SessionVideoTrack(SessionClock(), FPS, lambda *event: None)
    video.add(_batch(range(0, 3)), turn=0)
    video.add(_batch(range(3, 8)), turn=2)
    video.drop_speech()
    assert sorted(video.frames) == [0, 1, 2]


def test_how_far_ahead_frames_leave_is_a_setting():
    assert WebConfig.from_env({}).video_ahead_seconds == VIDEO_AHEAD_SECONDS
    config = WebConfig.from_env({"AVATAR_WEB_VIDEO_AHEAD_SECONDS": "0.07"})
    assert config.video_ahead_seconds == pytest.approx(0.07)
    with pytest.raises(ConfigError, match="VIDEO_AHEAD_SECONDS"):
        WebConfig.from_env({"AVATAR_WEB_VIDEO_AHEAD_SECONDS": "-1"})


def _picture(width: int, height: int) -> np.ndarray:
    rows, columns = np.mgrid[0:height, 0:width]
    return np.stack(
        [rows * 255 // height, columns * 255 // width, (rows + columns) % 256], axis=-1
    ).astype(np.uint8)


def _rgb_of(planes: np.ndarray) -> np.ndarray:
    return av.VideoFrame.from_ndarray(planes, format="yuv420p").to_ndarray(format="rgb24")


def test_a_jpeg_frame_becomes_video_planes_as_close_to_its_picture_as_through_rgb():
    picture = _picture(64, 48)
    frame = encode_frame(picture, 0, media_pb2.FRAME_ENCODING_JPEG)
    pictures = FramePlanes()
    planes = pictures.planes(frame)
    assert planes.shape == (48 * 3 // 2, 64)
    assert planes[:48].min() >= 16 and planes[:48].max() <= 235  # video range, not JPEG's
    decoded = decode_frame(frame).astype(int)
    straight = np.abs(_rgb_of(planes).astype(int) - decoded).mean()
    through_rgb = np.abs(_rgb_of(_to_video_frame(frame)).astype(int) - decoded).mean()
    assert straight <= through_rgb + 0.5


def test_frames_the_jpeg_decoder_cannot_take_still_play_or_are_skipped():
    pictures = FramePlanes()
    raw = encode_frame(_picture(64, 48), 0, RGB24)
    assert pictures.planes(raw).shape == (72, 64)
    odd = encode_frame(_picture(65, 49), 0, media_pb2.FRAME_ENCODING_JPEG)
    assert pictures.planes(odd).shape == (72, 64)  # the last row and column dropped
    broken = media_pb2.Frame(
        data=b"\xff\xd8 not a JPEG", width=64, height=48, encoding=media_pb2.FRAME_ENCODING_JPEG
    )
    assert pictures.planes(broken) is None
    good = encode_frame(_picture(64, 48), 1, media_pb2.FRAME_ENCODING_JPEG)
    assert pictures.planes(good).shape == (72, 64)  # the decoder recovers
