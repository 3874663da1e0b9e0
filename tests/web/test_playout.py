"""The playout-delay header extension: negotiated in the answer, written on every video packet."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription, rtp
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters

from avatar_core.config import ConfigError
from avatar_gateway.web.config import VIDEO_PLAYOUT_DELAY_MS, WebConfig
from avatar_gateway.web.playout import (
    PLAYOUT_DELAY_URI,
    bound_video_delay,
    negotiate_playout_delay,
    playout_delay_value,
)

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_the_value_is_twelve_bits_of_least_and_most_in_10_ms_units():
    assert playout_delay_value(0, 0) == b"\x00\x00\x00"
    assert playout_delay_value(60, 60) == bytes([0x00, 0x60, 0x06])
    assert playout_delay_value(10, 40950) == bytes([0x00, 0x1F, 0xFF])
    for low, high in ((-10, 0), (50, 40), (0, 50_000)):
        with pytest.raises(ValueError, match="playout delay"):
            playout_delay_value(low, high)


async def _answer(offer_sdp: str, delay: tuple[int, int] | None) -> tuple[str, object]:
    pc = RTCPeerConnection()
    if delay is not None:
        negotiate_playout_delay()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    pc.addTrack(AudioStreamTrack())
    sender = pc.addTrack(VideoStreamTrack())
    if delay is not None:
        assert bound_video_delay(sender, *delay)
    await pc.setLocalDescription(await pc.createAnswer())
    answer = pc.localDescription.sdp
    await pc.close()
    return answer, sender


async def _offer() -> str:
    offerer = RTCPeerConnection()
    offerer.addTransceiver("audio", direction="sendrecv")
    offerer.addTransceiver("video", direction="recvonly")
    await offerer.setLocalDescription(await offerer.createOffer())
    sdp = offerer.localDescription.sdp
    await offerer.close()
    return sdp


async def test_the_answer_takes_the_extension_on_video_only():
    negotiate_playout_delay()  # the offerer (standing in for Chrome) lists it too
    answer, _ = await _answer(await _offer(), (60, 60))
    video = answer[answer.index("m=video") :]
    audio = answer[answer.index("m=audio") : answer.index("m=video")]
    assert PLAYOUT_DELAY_URI in video
    assert PLAYOUT_DELAY_URI not in audio


async def test_every_packet_of_the_sender_carries_the_delay():
    _, sender = await _answer(await _offer(), (60, 60))
    header_map = sender._RTCRtpSender__rtp_header_extensions_map
    header_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(id=5, uri=PLAYOUT_DELAY_URI),
            ]
        )
    )
    values = rtp.HeaderExtensions()
    values.mid = "1"
    profile, packed = header_map.set(values)
    assert dict(rtp.unpack_header_extensions(profile, packed)) == {
        1: b"1",
        5: playout_delay_value(60, 60),
    }


async def test_a_sender_without_aiortcs_header_map_is_left_alone():
    class Sender:
        pass

    assert not bound_video_delay(Sender(), 0, 0)


async def test_the_delay_is_a_setting():
    assert WebConfig.from_env({}).video_playout_delay_ms == VIDEO_PLAYOUT_DELAY_MS
    name = "AVATAR_WEB_VIDEO_PLAYOUT_DELAY_MS"
    assert WebConfig.from_env({name: "off"}).video_playout_delay_ms is None
    assert WebConfig.from_env({name: "0"}).video_playout_delay_ms == (0, 0)
    assert WebConfig.from_env({name: "20-120"}).video_playout_delay_ms == (20, 120)
    for bad in ("80-40", "soon", "1-2-3", "-5"):
        with pytest.raises(ConfigError, match="VIDEO_PLAYOUT_DELAY_MS"):
            WebConfig.from_env({name: bad})
