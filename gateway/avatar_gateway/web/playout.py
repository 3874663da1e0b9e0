"""How long the browser may hold our video before it plays it: the playout-delay extension.

A browser holds received video in a jitter buffer sized from what it has seen of the
stream; Chrome holds our frames about 150 ms against about 40 ms for our audio, so the
picture trails its sound. WebRTC's playout-delay RTP header extension
(``http://www.webrtc.org/experiments/rtp-hdrext/playout-delay``: 12 bits of minimum and 12
of maximum delay, in 10 ms units) lets the sender bound that delay; Chrome offers it on
every video section. aiortc neither negotiates nor writes it: :func:`negotiate_playout_delay`
adds it to the extensions aiortc answers with (once per process, before the offer is
read), and :func:`bound_video_delay` gives the video sender a header map that writes it on
every packet.
"""

from __future__ import annotations

from typing import Any

from aiortc import codecs, rtp
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters

PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
# The extension counts in 10 ms units, 12 bits each.
_UNIT_MS = 10
_MAX_UNITS = (1 << 12) - 1


def playout_delay_value(min_ms: int, max_ms: int) -> bytes:
    """The extension's three bytes for a delay between ``min_ms`` and ``max_ms``.

    Raises:
        ValueError: Negative, out of range (40.95 s), or a minimum above the maximum.
    """
    low, high = round(min_ms / _UNIT_MS), round(max_ms / _UNIT_MS)
    if not 0 <= low <= high <= _MAX_UNITS:
        raise ValueError(
            f"a playout delay needs 0 <= min <= max <= {_MAX_UNITS * _UNIT_MS} ms, "
            f"got {min_ms}-{max_ms} ms"
        )
    return ((low << 12) | high).to_bytes(3, "big")


class _PlayoutDelayMap(rtp.HeaderExtensionsMap):
    """aiortc's header map, plus the playout delay on every packet once negotiated."""

    def __init__(self, value: bytes) -> None:
        super().__init__()
        self._value = value
        self._id: int | None = None

    def configure(self, parameters: RTCRtpParameters) -> None:
        super().configure(parameters)
        for extension in parameters.headerExtensions:
            if extension.uri == PLAYOUT_DELAY_URI:
                self._id = extension.id

    def set(self, values: rtp.HeaderExtensions) -> tuple[int, bytes]:
        profile, packed = super().set(values)
        if self._id is None:
            return profile, packed
        extensions = rtp.unpack_header_extensions(profile, packed) if packed else []
        return rtp.pack_header_extensions([*extensions, (self._id, self._value)])


def negotiate_playout_delay() -> None:
    """Adds the playout delay to the video extensions aiortc answers with (idempotent).

    aiortc picks a transceiver's extensions when it reads the remote offer: call this first.
    """
    video = codecs.HEADER_EXTENSIONS["video"]
    if any(extension.uri == PLAYOUT_DELAY_URI for extension in video):
        return
    free = max(extension.id for extension in video) + 1
    video.append(RTCRtpHeaderExtensionParameters(id=free, uri=PLAYOUT_DELAY_URI))


def bound_video_delay(sender: Any, min_ms: int, max_ms: int) -> bool:
    """Makes a video sender ask the browser to play its frames within ``min_ms``-``max_ms``.

    Call :func:`negotiate_playout_delay` before the offer is read, this after ``addTrack``
    and before the answer is created. The browser honours it only when its offer lists the
    extension (Chrome's does).

    Returns:
        Whether the sender writes the extension (False: an aiortc without the header map
        this relies on, left alone).
    """
    name = "_RTCRtpSender__rtp_header_extensions_map"  # aiortc 1.16's private attribute
    if not isinstance(getattr(sender, name, None), rtp.HeaderExtensionsMap):
        return False
    setattr(sender, name, _PlayoutDelayMap(playout_delay_value(min_ms, max_ms)))
    return True
