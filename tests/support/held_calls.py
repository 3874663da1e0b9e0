"""Streams a test holds open and finishes when it chooses (overload and drain tests).

:class:`HeldEnhance` is a real enhancer stream: config first, then, when the test
says so, a frame and the end, and the enhanced frame back. :class:`HeldReflection`
holds a server-reflection stream open, which every server has, so any server's
call slots can be filled without knowing its API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar_core.frames import encode_frame


class _HeldStream:
    """A bidirectional stream whose requests the test sends one by one."""

    def __init__(self) -> None:
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()
        self.call: Any = None

    async def _requests(self) -> AsyncIterator[Any]:
        while (message := await self._outbox.get()) is not None:
            yield message

    async def send(self, message: Any) -> None:
        """Queues one request message."""
        await self._outbox.put(message)

    async def rest(self) -> list[Any]:
        """Closes the request side and returns every response still to come."""
        await self._outbox.put(None)
        responses = []
        while (response := await self.call.read()) is not grpc.aio.EOF:
            responses.append(response)
        return responses


class HeldEnhance(_HeldStream):
    """An Enhance stream held open after its config until :meth:`finish`."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        super().__init__()
        stub = enhancer_pb2_grpc.EnhancerServiceStub(channel)
        self.call = stub.Enhance(self._requests(), timeout=60)

    async def open(self) -> str:
        """Sends the config and returns the first event's kind ("started" when admitted)."""
        await self.send(enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig()))
        return (await self.call.read()).WhichOneof("event")

    async def finish(self) -> list[str]:
        """Sends one frame and the end; returns the kinds of the remaining events."""
        frame = encode_frame(np.full((32, 32, 3), 128, np.uint8), 0)
        await self.send(enhancer_pb2.EnhanceRequest(frames=media_pb2.FrameBatch(frames=[frame])))
        await self.send(enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd()))
        return [response.WhichOneof("event") for response in await self.rest()]


class HeldReflection(_HeldStream):
    """A server-reflection stream held open until :meth:`rest`."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        super().__init__()
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        self.call = stub.ServerReflectionInfo(self._requests(), timeout=60)

    async def open(self) -> list[str]:
        """Asks for the service list once (so the call is admitted); returns the names."""
        await self.send(reflection_pb2.ServerReflectionRequest(list_services=""))
        response = await self.call.read()
        return [service.name for service in response.list_services_response.service]
