"""WebRTC tracks fed from a Converse stream, both paced on the session's one clock.

The gateway streams audio (sample offsets) and frames (indices) on one session clock.
:class:`~avatar_gateway.web.timeline.SessionClock` maps that clock to this machine's:
media at ``t`` seconds of session time leaves at ``origin + t``. Both tracks read the same clock, so what the
gateway made simultaneous leaves together. The wire keeps a steady pace whatever
happens: audio packets leave every 20 ms and video timestamps follow the time frames
leave, so each track's RTP-to-wall-clock relation, which RTCP sender reports give the
browser to play them in sync, never changes. Late audio is covered by a packet of
silence and moves the content later for both tracks (``origin`` slips); when what is
held has stayed well ahead for a while, idle moments are skipped to bring the delay
back (``origin`` moves earlier), and when a turn's speech arrives the idle moments held
before it are skipped at once, so it plays from the very next packet on (the gateway
sends a turn's audio ahead of its time, so enough of it is held to play on without a
gap). Frames leave
``video_ahead`` seconds before the sound of their time (none by default: the two arrive
together, and the page holds the video as long as the audio takes to its speaker,
``static/sync.js``). No frame leaves earlier than that; a late
frame is replaced by the last one and dropped when it comes. Each frame is taken up early
by what the last ones took from their picture in hand to the wire (decoded here, encoded
and sent by aiortc), so that it reaches the wire when due.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections import deque
from collections.abc import Callable

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from avatar.common.v1 import media_pb2
from avatar_core.frames import FrameFormatError, decode_frame
from avatar_gateway.web.config import VIDEO_AHEAD_SECONDS
from avatar_gateway.web.resample import OUTPUT_RATE, PacketResampler
from avatar_gateway.web.timeline import AudioBuffer, SessionClock

AUDIO_PACKET_SECONDS = 0.02
VIDEO_CLOCK_RATE = 90_000
# Longest a frame may be late before the last one is shown again: a frame, as a turn's
# first audio leaves the gateway before its first picture (which follows within a frame).
FRAME_GRACE_SECONDS = 0.04
# Longest the audio waits for late audio before it sends a packet of silence instead.
AUDIO_GRACE_SECONDS = 0.01
# Longest a frame waits for the sound of its time before it leaves anyway.
AUDIO_WAIT_SECONDS = 1.0
# What is held of the stream before the peer connects and the tracks start sending.
HELD_SECONDS = 1.0
# Late media slips the clock; once all held audio stays this far ahead for
# CATCH_UP_WINDOW_SECONDS, idle moments are skipped to bring it back to CATCH_UP_TARGET.
CATCH_UP_ABOVE_SECONDS = 0.15
CATCH_UP_TARGET_SECONDS = 0.06
CATCH_UP_WINDOW_SECONDS = 2.0
# When a turn's speech arrives, idle audio held before it is skipped, as long as this much
# stays held ahead (the speech's own audio included), so that the speech's first sample
# opens a packet. The gateway sends a turn's audio up to 120 ms before its time, so the
# speech usually starts with the very next packet; this covers the gateway's next tick
# when less has come, and scheduling jitter.
SPEECH_LEAD_SECONDS = 0.06
# Longest a frame is assumed to take from its picture in hand to the wire (decoded here,
# then encoded and sent by aiortc): frames are taken up this much before they are due.
MAX_ENCODE_LEAD_SECONDS = 0.06
# A turn's speech becomes audible at its first sample this loud (-40 dBFS of s16).
ONSET_AMPLITUDE = 328

MediaListener = Callable[[str, int, int], None]
"""Called as ``(kind, turn, position)`` when a track starts sending a turn's media
(turn 0 is the idle loop), kind "audio" or "video"; position is a sample offset or a
frame index. Kind "onset" marks the first audible sample of a turn's speech."""


class SessionAudioTrack(MediaStreamTrack):
    """The session's audio, 20 ms frames of s16 mono at 48 kHz (the Opus encoder's rate:
    each packet is resampled with the audio held after it, see :mod:`.resample`).

    Args:
        clock: The session clock.
        sample_rate: Samples per second of the session's audio.
        fps: Frames per second of the session (skips are whole frames).
        on_media: Told when the audio of a new turn (or of the idle loop) starts to leave.
        on_underrun: Told when late audio made the clock slip, and whether it broke into
            a turn's speech (True) or into silence: idle, or after a turn's speech ended
            (:meth:`turn_ended`), where the gateway's audio comes less far ahead.
    """

    kind = "audio"

    def __init__(
        self,
        clock: SessionClock,
        sample_rate: int,
        fps: float,
        on_media: MediaListener,
        on_underrun: Callable[[bool], None] = lambda speech: None,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.sample_rate = sample_rate
        self.fps = fps
        self.leads: deque[tuple[float, float]] = deque()  # (when, seconds of audio held ahead)
        self.buffer = AudioBuffer()
        self.samples_per_packet = max(1, round(sample_rate * AUDIO_PACKET_SECONDS))
        self.next_offset: int | None = None
        self.current_turn = -1
        self.ended_turn = 0  # the last turn the gateway said has ended
        self.awaiting_onset = False
        self.on_media = on_media
        self.on_underrun = on_underrun
        self.resampler = PacketResampler(sample_rate)
        self.time_base = fractions.Fraction(1, OUTPUT_RATE)

    def turn_ended(self, turn: int) -> None:
        """The gateway ended ``turn`` (turns end in order): no more of its audio comes."""
        self.ended_turn = max(self.ended_turn, turn)

    def hush(self) -> None:
        """Silences the audio held and not yet sent: the page stopped the turn. (The
        gateway lets the audio of the pictures it has already sent play on, and the web
        front holds some of that.)"""
        start = self.next_offset if self.next_offset is not None else self.buffer.start
        self.buffer.silence_from(start)

    def add(self, chunk: media_pb2.AudioChunk, turn: int) -> None:
        """Queues a chunk received from the gateway."""
        self.clock.start(chunk.sample_offset / self.sample_rate)
        self.buffer.add(chunk, turn)
        if self.next_offset is None:  # not sending yet: hold only the last moments
            self.buffer.forget_before(self.buffer.end - int(HELD_SECONDS * self.sample_rate))

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms of audio, when it is due."""
        if self.readyState != "live":
            raise MediaStreamError
        await self.clock.started.wait()
        if self.next_offset is None:
            # Media held while the peer connected is past: start with what is due now.
            now = self.clock.position(self.sample_rate)
            now -= now % self.samples_per_packet
            self.next_offset = max(self.buffer.start, now)
        offset, count = self._catch_up(self.next_offset), self.samples_per_packet
        await self.clock.wait_until(offset / self.sample_rate)
        if self.current_turn == 0:
            # Speech that came during the wait starts now: a skip leaves the time it is due.
            offset = self._speech_skip(offset)
        if not await self._wait_for(offset + count):
            # Late: silence now, the content a packet later, the wire at its pace.
            self.clock.slip(count / self.sample_rate)
            self.on_underrun(self.current_turn > self.ended_turn)
            return self._frame(bytes(2 * count), offset, follows=offset)
        pcm, turn = self.buffer.take(offset, count)
        self.next_offset = offset + count
        self.clock.audio_sent(self.next_offset / self.sample_rate)
        samples = np.frombuffer(pcm, dtype="<i2")
        if turn != self.current_turn:
            self.current_turn = turn
            self.awaiting_onset = turn > 0
            self.on_media("audio", turn, offset)
        if self.awaiting_onset:
            loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= ONSET_AMPLITUDE)
            if loud.size:
                self.awaiting_onset = False
                self.on_media("onset", turn, offset + int(loud[0]))
        return self._frame(pcm, offset)

    def _frame(self, pcm: bytes, offset: int, follows: int | None = None) -> av.AudioFrame:
        """The packet ``pcm`` of ``offset`` at 48 kHz; the audio held from ``follows``
        (by default the offset after the packet) is what plays next, read for the
        resampling."""
        if follows is None:
            follows = offset + len(pcm) // 2
        after = self.buffer.peek(follows, self.resampler.lookahead)
        samples = self.resampler.resample(pcm, after).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = OUTPUT_RATE
        # Session time (the wire's own time line is stamped by the Opus packet track).
        frame.pts = offset * OUTPUT_RATE // self.sample_rate
        frame.time_base = self.time_base
        return frame

    def _catch_up(self, offset: int) -> int:
        """Skips idle audio (and so idle frames) when all of it has stayed well ahead of
        its time for a while: after a slip, latency comes back down. Returns the offset."""
        now = time.monotonic()
        lead = self._held_seconds(now)
        if self.current_turn == 0 and self.buffer.speech_start(offset) is not None:
            return self._speech_skip(offset)
        self.leads.append((now, lead))
        while self.leads and self.leads[0][0] < now - CATCH_UP_WINDOW_SECONDS:
            self.leads.popleft()
        if now - self.leads[0][0] < 0.9 * CATCH_UP_WINDOW_SECONDS:
            return offset
        surplus = min(held for _, held in self.leads) - CATCH_UP_TARGET_SECONDS
        if surplus < CATCH_UP_ABOVE_SECONDS - CATCH_UP_TARGET_SECONDS:
            return offset
        skip = self._whole_frames(surplus * self.sample_rate)
        if self.current_turn != 0 or not self.buffer.idle(offset, offset + skip):
            return offset
        return self._skip(offset, skip)

    def _speech_skip(self, offset: int) -> int:
        """Skips the idle audio held before a turn's speech, if any, as far as
        :data:`SPEECH_LEAD_SECONDS` stays held, so that the speech opens a packet: at
        ``offset`` when all of it can go, else whole packets later. Returns the offset."""
        speech = self.buffer.speech_start(offset)
        if speech is None:
            return offset
        surplus = (self._held_seconds(time.monotonic()) - SPEECH_LEAD_SECONDS) * self.sample_rate
        gap = speech - offset
        if surplus <= 0:
            return offset
        if surplus < gap:  # not all of it: the speech a whole number of packets later
            packets = math.ceil((gap - surplus) / self.samples_per_packet)
            gap -= packets * self.samples_per_packet
        return self._skip(offset, gap)

    def _held_seconds(self, now: float) -> float:
        """How far the audio held reaches past what is due at ``now``, seconds."""
        return self.buffer.end / self.sample_rate - (now - self.clock.origin)

    def _whole_frames(self, samples: float) -> int:
        """The most samples of whole frames within ``samples`` (0 for less than a frame)."""
        frames = int(samples * self.fps / self.sample_rate) if samples > 0 else 0
        return round(frames * self.sample_rate / self.fps)

    def _skip(self, offset: int, skip: int) -> int:
        """Skips ``skip`` samples from ``offset`` (all idle, whole packets or frames): the
        session plays that much earlier. Returns the offset to send from."""
        if skip < 1:
            return offset
        self.buffer.forget_before(offset + skip)
        self.clock.catch_up(skip / self.sample_rate)
        self.leads.clear()
        self.next_offset = offset + skip
        return self.next_offset

    async def _wait_for(self, end: int) -> bool:
        """Waits a moment for the buffer to hold audio up to ``end``; whether it does."""
        deadline = time.monotonic() + AUDIO_GRACE_SECONDS
        while self.buffer.end < end and not self.buffer.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.buffer.arrived.clear()
            try:
                await asyncio.wait_for(self.buffer.arrived.wait(), remaining)
            except TimeoutError:
                return False
        return True

    def close(self) -> None:
        """Ends the audio: nothing more will be received."""
        self.buffer.close()
        self.stop()


class SessionVideoTrack(MediaStreamTrack):
    """The session's frames, each when it is due on the session clock.

    Args:
        clock: The session clock.
        fps: Frames per second of the session.
        on_media: Told when the frames of a new turn (or of the idle loop) start to leave.
        on_shift: Told ``(pts, shift_seconds)`` when the content moved on the wire's time
            line: from the frame with timestamp ``pts`` (90 kHz) on, frame ``index`` has
            timestamp ``(shift_seconds + index / fps) * 90000``.
        ahead_seconds: How much earlier than the sound of their time frames leave.
    """

    kind = "video"

    def __init__(
        self,
        clock: SessionClock,
        fps: float,
        on_media: MediaListener,
        on_shift: Callable[[int, float], None] = lambda pts, shift: None,
        ahead_seconds: float = VIDEO_AHEAD_SECONDS,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.fps = fps
        self.ahead_seconds = ahead_seconds
        self.on_shift = on_shift
        self.shift = 0.0
        self.encode_seconds = 0.0  # from a picture in hand to the wire, on average
        self.taken_at: float | None = None  # when the last frame's picture was in hand
        self.last_pts: int | None = None  # of the last frame returned
        self.frames: dict[int, tuple[media_pb2.Frame, int]] = {}
        self.arrived = asyncio.Event()
        self.next_index: int | None = None
        self.last: np.ndarray | None = None  # the last picture, yuv420p planes
        self.current_turn = -1
        self.first_index: int | None = None
        self.on_media = on_media
        self.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        self.closed = False
        self.pictures = FramePlanes()

    def pts(self, index: int) -> int:
        """The RTP-clock timestamp of frame ``index`` (90 kHz): the time of its sound on the
        wire's steady time line (it leaves ``ahead_seconds`` before that)."""
        return round(self.clock.wire_seconds(index / self.fps) * VIDEO_CLOCK_RATE)

    def drop_speech(self) -> None:
        """Drops the held frames of a turn's speech: the page stopped it (its sound is
        hushed). The last picture stays until the idle loop's frames come."""
        for index in [i for i, (_, turn) in self.frames.items() if turn > 0]:
            del self.frames[index]

    def add(self, batch: media_pb2.FrameBatch, turn: int) -> None:
        """Queues a batch of frames received from the gateway."""
        for frame in batch.frames:
            if self.next_index is None or frame.index >= self.next_index:
                self.frames[frame.index] = (frame, turn)
        if batch.frames:
            self.clock.start(batch.frames[0].index / self.fps)
            self.arrived.set()
        if self.next_index is None and self.frames:  # not sending yet: hold the last moments
            newest = max(self.frames)
            for old in [i for i in self.frames if i < newest - HELD_SECONDS * self.fps]:
                del self.frames[old]

    async def recv(self) -> av.VideoFrame:
        """The next frame, when it is due; the last one again when it is late."""
        if self.readyState != "live":
            raise MediaStreamError
        while not self.frames and self.last is None and not self.closed:
            self.arrived.clear()
            await self.arrived.wait()
        if self.next_index is None:
            held = min(self.frames) if self.frames else 0
            self.next_index = max(held, self.clock.position(self.fps))
            self.first_index = self.next_index
        if self.taken_at is not None:
            # What the last frame took from its picture in hand to the wire (its decode
            # here, aiortc's encoding and sending): frames are taken up that much early,
            # so they reach the wire when due, as the audio does.
            took = min(MAX_ENCODE_LEAD_SECONDS, time.monotonic() - self.taken_at)
            self.encode_seconds += 0.1 * (took - self.encode_seconds)
        while True:
            if self.shift != self.clock.shift:
                self._follow_shift()
            index = self.next_index
            # Never further ahead of the sound than that: while audio waits for late
            # audio, so do the frames.
            leaves = index / self.fps - self.ahead_seconds
            await self.clock.wait_for_audio(leaves - 1 / self.fps, AUDIO_WAIT_SECONDS)
            await self.clock.wait_until(leaves, early=self.encode_seconds)
            if self.shift == self.clock.shift:  # else it moved while waiting: again
                break
        pts = self.pts(index)
        entry = self.frames.pop(index, None)
        if entry is None and not self.closed:
            entry = await self._wait_for(index)
        self.next_index = index + 1
        self.taken_at = time.monotonic()
        for stale in [i for i in self.frames if i <= index]:
            del self.frames[stale]
        if entry is not None:
            frame, turn = entry
            # Off the event loop: the audio's 20 ms cadence must not wait for a decode.
            picture = await asyncio.to_thread(self.pictures.planes, frame)
            if picture is not None:
                self.last = picture
            if turn != self.current_turn:
                self.current_turn = turn
                self.on_media("video", turn, index)
        if self.last is None:
            raise MediaStreamError
        # A fresh frame each time: the encoder owns (and may still hold) what it was given.
        out = av.VideoFrame.from_ndarray(self.last, format="yuv420p")
        out.pts = self.last_pts = pts
        out.time_base = self.time_base
        return out

    def _follow_shift(self) -> None:
        """The content moved on the wire's time line: skips the frames already past, or
        whose time on the wire has already been sent (the encoder needs rising
        timestamps), and announces it."""
        self.shift = self.clock.shift
        assert self.next_index is not None
        index = max(self.next_index, self.clock.position(self.fps))
        while self.last_pts is not None and self.pts(index) <= self.last_pts:
            index += 1
        self.next_index = index
        self.on_shift(self.pts(index), self.shift)

    async def _wait_for(self, index: int) -> tuple[media_pb2.Frame, int] | None:
        deadline = time.monotonic() + FRAME_GRACE_SECONDS
        while index not in self.frames and not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                return None
        return self.frames.pop(index, None)

    def close(self) -> None:
        """Ends the video."""
        self.closed = True
        self.arrived.set()
        self.stop()


class FramePlanes:
    """Gateway frames to the yuv420p planes the video encoder takes.

    A JPEG holds its picture as YCbCr already: it is decoded straight to those planes
    (FFmpeg's decoder, then only the range is converted), which costs a third of
    decoding to RGB and converting that back, and is as close to the picture. Other
    encodings, odd sizes and frames FFmpeg cannot read go the way through RGB
    (:func:`_to_video_frame`).
    """

    def __init__(self) -> None:
        self._jpeg: av.CodecContext | None = None

    def planes(self, frame: media_pb2.Frame) -> np.ndarray | None:
        """The frame's yuv420p planes; None for a frame that cannot be decoded."""
        if frame.encoding == media_pb2.FRAME_ENCODING_JPEG:
            planes = self._from_jpeg(frame)
            if planes is not None:
                return planes
        return _to_video_frame(frame)

    def _from_jpeg(self, frame: media_pb2.Frame) -> np.ndarray | None:
        if self._jpeg is None:
            self._jpeg = av.CodecContext.create("mjpeg", "r")
        try:
            pictures = self._jpeg.decode(av.Packet(frame.data))
        except av.FFmpegError:
            self._jpeg = None  # a fresh decoder for the next frame
            return None
        if len(pictures) != 1:
            return None
        picture = pictures[0]
        size = (picture.width, picture.height)
        if size != (frame.width, frame.height) or picture.width % 2 or picture.height % 2:
            return None
        # JPEG's YCbCr spans 0-255; video's runs 16-235 (chroma 16-240).
        limited = picture.reformat(format="yuv420p", src_color_range="JPEG", dst_color_range="MPEG")
        return limited.to_ndarray()


def _to_video_frame(frame: media_pb2.Frame) -> np.ndarray | None:
    """Decodes a gateway frame to yuv420p planes; None for one that cannot be decoded
    (it is skipped). Odd sizes lose their last row or column: 4:2:0 needs even ones."""
    try:
        rgb = decode_frame(frame)
    except FrameFormatError:
        return None
    height, width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24")
    return picture.reformat(format="yuv420p").to_ndarray()
