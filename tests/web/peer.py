"""A WebRTC peer in Python (aiortc) that talks to the web front as the page does.

It posts an SDP offer for one audio and one video track, opens the negotiated
``events`` data channel, reads both tracks and keeps what arrived, so tests can check
sessions and their clean-up without a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError


class OfferRefused(Exception):
    """The web front answered the offer with an error."""

    def __init__(self, status: int, body: dict, headers: dict[str, str]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers


@dataclass
class PythonPeer:
    """One session seen from the client side.

    Attributes:
        pc: The peer connection.
        location: The session's URL path.
        events: Every event received on the data channel, in order.
        audio_frames: Audio frames received.
        video_frames: Video frames received.
    """

    pc: RTCPeerConnection
    location: str = ""
    events: list[dict] = field(default_factory=list)
    audio_frames: int = 0
    video_frames: int = 0
    readers: list[asyncio.Task] = field(default_factory=list)
    event_arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for_event(self, predicate, timeout: float = 30.0) -> dict:
        """The first event (already received or to come) for which ``predicate`` holds."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                self.event_arrived.clear()
                await self.event_arrived.wait()

    async def close(self) -> None:
        """Closes the peer connection (as a closed tab does) without telling the server."""
        for reader in self.readers:
            reader.cancel()
        await self.pc.close()


async def _read(track, peer: PythonPeer) -> None:
    with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
        while True:
            await track.recv()
            if track.kind == "audio":
                peer.audio_frames += 1
            else:
                peer.video_frames += 1


async def open_peer(
    http: aiohttp.ClientSession, base_url: str, query: dict[str, str], headers=None
) -> PythonPeer:
    """Offers a session to the web front and applies its answer.

    Raises:
        OfferRefused: The web front refused the offer.
    """
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    peer = PythonPeer(pc)
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    channel = pc.createDataChannel("events", negotiated=True, id=0)

    @channel.on("message")
    def on_message(message) -> None:
        peer.events.append(json.loads(message))
        peer.event_arrived.set()

    @pc.on("track")
    def on_track(track) -> None:
        peer.readers.append(asyncio.ensure_future(_read(track, peer)))

    await pc.setLocalDescription(await pc.createOffer())
    async with http.post(
        f"{base_url}api/sessions",
        params=query,
        data=pc.localDescription.sdp,
        headers={"Content-Type": "application/sdp", **(headers or {})},
    ) as response:
        if response.status != 201:
            body = await response.json()
            await pc.close()
            raise OfferRefused(response.status, body, dict(response.headers))
        peer.location = response.headers["Location"]
        answer = await response.text()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return peer
