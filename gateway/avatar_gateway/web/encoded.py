"""The session's audio encoded to Opus as each packet falls due, on the event loop.

Given raw frames, aiortc encodes each one in a worker thread and sends it when the thread
is done: two hand-overs between threads that, on a busy machine, make some packets leave
tens of milliseconds late. The browser's audio jitter buffer sizes itself for the
latest packets it sees (in steps of 20 ms), so every such packet adds to the delay
before anything is heard. A 20 ms Opus packet takes a fraction of a millisecond to
encode: :class:`OpusPacketTrack` encodes it where it is made and hands aiortc a packet
it only has to send, stamped with the samples sent before it. (The session's own sample
offsets skip ahead where the web front leaves idle moments out; stamped with those, the
packets would show the browser a gap of audio that never comes, which it waits out.)
"""

from __future__ import annotations

import fractions
from collections import deque

import av
from aiortc import MediaStreamTrack
from aiortc.codecs.opus import SAMPLE_RATE, SAMPLES_PER_FRAME, OpusEncoder
from aiortc.mediastreams import MediaStreamError

from avatar_gateway.web.tracks import SessionAudioTrack

_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class OpusPacketTrack(MediaStreamTrack):
    """Opus packets of a :class:`SessionAudioTrack`'s frames, one per frame.

    Args:
        source: The session's audio (frames at 48 kHz, 20 ms each).
    """

    kind = "audio"

    def __init__(self, source: SessionAudioTrack) -> None:
        super().__init__()
        self.source = source
        self._encoder = OpusEncoder()
        # Opus's low-delay mode: each packet's sound comes out of the browser's decoder
        # 2.5 ms after it went in rather than 6.5 ms (aiortc asks for "voip"); at aiortc's
        # 96 kbit/s its music codec carries speech as well.
        self._encoder.codec.options = {"application": "lowdelay"}
        self._pending: deque[bytes] = deque()
        self._fed = 0  # samples given to the encoder
        self._timestamp = 0  # of the next packet, samples at 48 kHz

    async def recv(self) -> av.Packet:
        """The next packet, when its audio is due."""
        if self.readyState != "live":
            raise MediaStreamError
        # The encoder answers each whole 20 ms frame at once; a rate that does not divide
        # into 20 ms packets makes frames a sample longer or shorter now and then.
        while not self._pending:
            frame = await self.source.recv()
            # The wire's time line counts the samples sent: a skip in the session's
            # content (idle moments left out) is no gap for the browser to wait out.
            frame.pts, frame.time_base = self._fed, _TIME_BASE
            self._fed += frame.samples
            payloads, _ = self._encoder.encode(frame)
            self._pending.extend(payloads)
        packet = av.Packet(self._pending.popleft())
        packet.pts = self._timestamp
        packet.time_base = _TIME_BASE
        self._timestamp += SAMPLES_PER_FRAME
        return packet

    def stop(self) -> None:
        """Stops this track and the audio it encodes."""
        super().stop()
        self.source.stop()
