"""gRPC servicer of ``avatar.enhancer.v1.EnhancerService``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from prometheus_client import CollectorRegistry

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar_core.frames import FrameFormatError
from avatar_core.server import Service, create_service_with
from avatar_core.streams import payload, read_config
from avatar_core.touchup import TouchupError
from avatar_enhancer.backends import Backend, EnhancerBackends
from avatar_enhancer.config import EnhancerConfig
from avatar_enhancer.engine import (
    BackendUnavailableError,
    EnhancerError,
    EnhanceSettings,
    UnknownBackendError,
)
from avatar_enhancer.faces import FaceLocator
from avatar_enhancer.metrics import EnhancerMetrics
from avatar_enhancer.regions import Region, RegionBlender
from avatar_enhancer.restoration_model import ModelLoadError
from avatar_enhancer.stream import EnhanceStream


class EnhancerServicer(enhancer_pb2_grpc.EnhancerServiceServicer):
    """Enhances frame batches in a thread pool, in order.

    Args:
        config: Service settings.
        metrics: The enhancer's metrics.
    """

    def __init__(self, config: EnhancerConfig, metrics: EnhancerMetrics) -> None:
        self._config = config
        self._metrics = metrics
        self._backends = EnhancerBackends(config)
        self._locator = FaceLocator()
        self._executor = metrics.service.thread_pool("enhance", config.workers)

    async def warm_up(self) -> None:
        """Loads every backend and runs each once, before the server says SERVING."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._backends.load)
        for name, seconds in self._backends.load_seconds.items():
            self._metrics.service.model_load_seconds.labels(name).set(seconds)

    def health_checks(self) -> dict[str, bool]:
        """Each backend's health-check name and whether it serves."""
        return self._backends.health()

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
            backend = self._backends.get(config.backend)
            settings = EnhanceSettings(
                upscale=config.upscale or 1, fidelity=config.fidelity or self._config.fidelity
            )
            regions = _regions(config, settings)
        except UnknownBackendError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        except BackendUnavailableError as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        except EnhancerError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        stream = EnhanceStream(
            backend,
            settings,
            self._executor,
            self._metrics,
            self._locator,
            regions,
            jobs=self._config.workers,
        )
        yield enhancer_pb2.EnhanceResponse(
            sequence=0,
            started=enhancer_pb2.EnhanceStarted(
                backend=backend.name, model=_model_name(backend), fidelity=settings.fidelity
            ),
        )
        sequence = total = 0
        quality = config.jpeg_quality or 90
        async for request in payload(requests, context):
            try:
                frames = await stream.enhance(
                    request.frames, request.faces, config.encoding, quality
                )
            except (FrameFormatError, EnhancerError, TouchupError) as error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            except ModelLoadError as error:
                await context.abort(grpc.StatusCode.INTERNAL, str(error))
            total += len(frames)
            self._metrics.frames.labels(backend.name).inc(len(frames))
            sequence += 1
            yield enhancer_pb2.EnhanceResponse(
                sequence=sequence,
                frames=media_pb2.FrameBatch(frames=frames, fps=request.frames.fps),
            )
        yield enhancer_pb2.EnhanceResponse(
            sequence=sequence + 1, end=enhancer_pb2.EnhanceEnd(frames=total)
        )

    def close(self) -> None:
        """Stops the worker threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _model_name(backend: Backend) -> str:
    model = getattr(backend, "model", None)
    return model.path.name if model is not None else ""


def _regions(config: enhancer_pb2.EnhanceConfig, settings: EnhanceSettings) -> RegionBlender | None:
    """The stream's region blender, or None when it enhances whole frames.

    Raises:
        EnhancerError: Bad regions, or regions with upscaling.
    """
    if not config.regions:
        return None
    if settings.upscale != 1:
        raise EnhancerError("regions cannot be combined with upscale 2: send upscale 1")
    return RegionBlender([Region.checked(r.x, r.y, r.width, r.height) for r in config.regions])


def _output_problem(config: enhancer_pb2.EnhanceConfig) -> str | None:
    """Says what is wrong with the requested output format, or returns None."""
    if config.encoding not in media_pb2.FrameEncoding.values():
        return f"unknown frame encoding {config.encoding}"
    if config.jpeg_quality > 100:
        return f"jpeg_quality must be 1-100 (0 means 90), got {config.jpeg_quality}"
    return None


def create_service(config: EnhancerConfig, registry: CollectorRegistry) -> Service:
    """Builds the enhancer's :class:`Service` for the shared bootstrap.

    Besides the service's own health check, each backend has one
    (``avatar.enhancer.v1.EnhancerService/opencv``, ``.../onnx``): NOT_SERVING for a
    backend whose model failed to load, while the others serve.
    """
    servicer = EnhancerServicer(config, EnhancerMetrics(registry))
    return create_service_with(
        servicer,
        enhancer_pb2_grpc.add_EnhancerServiceServicer_to_server,
        enhancer_pb2.DESCRIPTOR.services_by_name["EnhancerService"],
        warm_up=servicer.warm_up,
        close=servicer.close,
        health_checks=servicer.health_checks,
    )
