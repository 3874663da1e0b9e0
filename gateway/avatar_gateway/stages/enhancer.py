"""The ``enhancer`` stage (high quality): every frame batch through the enhancer, in order.

With the avatar's enhanced still at hand (:mod:`avatar_gateway.appearance`) the
animator draws frames from it, and the enhancer works only on the regions that move.
The pipeline runs this stage only when the enhancer has per-frame work the animator
cannot do: a restoration model (``onnx``), or whole frames without kept stills. A still
enhanced with OpenCV needs no stage: the animator touches the regions up itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.appearance import Appearance
from avatar_gateway.stages.base import Stage, StageContext, requests_until
from avatar_gateway.stages.events import END, EndOfStream

# JPEG quality of high quality's frames on both legs, animator to enhancer and enhancer
# out (and of the animator's frames when it touches them up itself). The same quality means the same quantisation tables, so the pixels the enhancer
# leaves alone come out of its re-encode almost exactly as the animator encoded them
# (95 in, 90 out lost 1.8 dB more on them), and the enhancer decodes a third fewer bytes.
HIGH_QUALITY_JPEG = 90


class EnhancerStage(Stage):
    """Streams the animator's frame batches through one ``Enhance`` call.

    One call serves the whole request; batches come back in order with the indices they went in
    with, and go to the client in the request's frame encoding.

    Args:
        context: What the request's stages work with.
        inbox: Frame batches with their indices stamped, then :data:`END`.
        to_client: Where enhanced batches go, then :data:`END`.
        appearance: The avatar's enhanced still, whose moving regions are all the
            enhancer works on; None: whole frames.
    """

    name = "enhancer"

    def __init__(
        self,
        context: StageContext,
        inbox: asyncio.Queue[media_pb2.FrameBatch | EndOfStream],
        to_client: asyncio.Queue[gateway_pb2.SpeakResponse | EndOfStream],
        appearance: Appearance | None = None,
    ) -> None:
        super().__init__(context)
        self._inbox = inbox
        self._to_client = to_client
        self._regions = appearance.regions if appearance is not None else ()

    async def run(self) -> None:
        """Enhances batches until the inbox ends, then puts :data:`END`."""
        with self.timed():
            await self._enhance()
        await self._to_client.put(END)

    async def _enhance(self) -> None:
        # Frames drawn from the enhanced still: only what moves needs the enhancer.
        regions = self._regions
        call_ended = asyncio.Event()
        try:
            responses = self.context.clients.enhancer.enhance(
                requests_until(call_ended, self._requests(regions)), self.timeout()
            )
            async for response in responses:
                if response.WhichOneof("event") == "frames":
                    await self._to_client.put(gateway_pb2.SpeakResponse(frames=response.frames))
        finally:
            call_ended.set()

    async def _requests(
        self, regions: tuple[enhancer_pb2.Region, ...]
    ) -> AsyncIterator[enhancer_pb2.EnhanceRequest]:
        encoding = self.context.plan.frame_encoding
        config = enhancer_pb2.EnhanceConfig(
            encoding=encoding, jpeg_quality=HIGH_QUALITY_JPEG, regions=regions
        )
        yield enhancer_pb2.EnhanceRequest(config=config)
        while (batch := await self._inbox.get()) is not END:
            yield enhancer_pb2.EnhanceRequest(frames=batch)
        yield enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd())
