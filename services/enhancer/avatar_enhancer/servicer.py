"""gRPC servicer of ``avatar.enhancer.v1.EnhancerService``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import numpy as np
from prometheus_client import CollectorRegistry

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar_core.frames import FrameFormatError, decode_frame, encode_frame
from avatar_core.server import Service, create_service_with
from avatar_core.streams import payload, read_config
from avatar_enhancer.config import EnhancerConfig
from avatar_enhancer.engine import (
    EnhancerError,
    EnhanceSettings,
    UnknownBackendError,
    create_enhancer,
)
from avatar_enhancer.metrics import EnhancerMetrics


class EnhancerServicer(enhancer_pb2_grpc.EnhancerServiceServicer):
    """Enhances frame batches in a thread pool, in order.

    Args:
        config: Service settings.
        metrics: The enhancer's metrics.
    """

    def __init__(self, config: EnhancerConfig, metrics: EnhancerMetrics) -> None:
        self._config = config
        self._metrics = metrics
        self._executor = metrics.service.thread_pool("enhance", config.workers)

    async def warm_up(self) -> None:
        """Loads the default backend and enhances one frame, before the server says SERVING."""
        name = self._config.default_backend

        def load() -> None:
            backend = create_enhancer(name)
            backend.enhance(np.zeros((64, 64, 3), np.uint8), EnhanceSettings())

        with self._metrics.service.loading(name):
            await asyncio.get_running_loop().run_in_executor(self._executor, load)

    async def Enhance(
        self,
        request_iterator: AsyncIterator[enhancer_pb2.EnhanceRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[enhancer_pb2.EnhanceResponse]:
        """Streams each batch back enhanced: started, batches, end."""
        requests = aiter(request_iterator)
        config = await read_config(requests, context)
        problem = _output_problem(config)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        try:
            backend = create_enhancer(config.backend or self._config.default_backend)
            settings = EnhanceSettings(upscale=config.upscale or 1, fidelity=config.fidelity or 0.7)
        except UnknownBackendError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        except EnhancerError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        sequence = 0
        yield enhancer_pb2.EnhanceResponse(
            sequence=sequence, started=enhancer_pb2.EnhanceStarted(backend=backend.name)
        )
        total = 0
        async for request in payload(requests, context):
            try:
                batch = await self._enhance_batch(backend, settings, config, request.frames)
            except (FrameFormatError, EnhancerError) as error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            total += len(batch.frames)
            self._metrics.frames.labels(backend.name).inc(len(batch.frames))
            sequence += 1
            yield enhancer_pb2.EnhanceResponse(sequence=sequence, frames=batch)
        yield enhancer_pb2.EnhanceResponse(
            sequence=sequence + 1, end=enhancer_pb2.EnhanceEnd(frames=total)
        )

    async def _enhance_batch(self, backend, settings, config, batch) -> media_pb2.FrameBatch:
        loop = asyncio.get_running_loop()
        quality = config.jpeg_quality or 90

        def work(frame: media_pb2.Frame) -> media_pb2.Frame:
            enhanced = backend.enhance(decode_frame(frame), settings)
            return encode_frame(enhanced, frame.index, config.encoding, quality)

        frames = await asyncio.gather(
            *(loop.run_in_executor(self._executor, work, frame) for frame in batch.frames)
        )
        return media_pb2.FrameBatch(frames=frames, fps=batch.fps)

    def close(self) -> None:
        """Stops the worker threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _output_problem(config: enhancer_pb2.EnhanceConfig) -> str | None:
    """Says what is wrong with the requested output format, or returns None."""
    if config.encoding not in media_pb2.FrameEncoding.values():
        return f"unknown frame encoding {config.encoding}"
    if config.jpeg_quality > 100:
        return f"jpeg_quality must be 1-100 (0 means 90), got {config.jpeg_quality}"
    return None


def create_service(config: EnhancerConfig, registry: CollectorRegistry) -> Service:
    """Builds the enhancer's :class:`Service` for the shared bootstrap."""
    servicer = EnhancerServicer(config, EnhancerMetrics(registry))
    return create_service_with(
        servicer,
        enhancer_pb2_grpc.add_EnhancerServiceServicer_to_server,
        enhancer_pb2.DESCRIPTOR.services_by_name["EnhancerService"],
        warm_up=servicer.warm_up,
        close=servicer.close,
    )
