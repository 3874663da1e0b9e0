"""The enhancer's backends, loaded once at start, and whether each can serve.

``opencv`` always serves. ``onnx`` exists when ``AVATAR_ENHANCER_MODEL`` names a
model: loaded and run once during warm-up, it serves; a model file that is missing,
corrupt or of an unknown layout leaves it NOT_SERVING (its own health check, one log
line) while ``opencv`` keeps serving, and streams that ask for it get the load error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from avatar_enhancer.config import EnhancerConfig
from avatar_enhancer.engine import (
    BackendUnavailableError,
    EnhanceSettings,
    OpenCvEnhancer,
    UnknownBackendError,
)
from avatar_enhancer.faces import FFHQ_TEMPLATE, FaceLandmarks
from avatar_enhancer.restoration_model import ModelLoadError, RestorationModel
from avatar_enhancer.restorer import OnnxRestorer

_LOGGER = logging.getLogger(__name__)

Backend = OpenCvEnhancer | OnnxRestorer


class EnhancerBackends:
    """Every configured backend by name, with the reason one could not load.

    Args:
        config: Service settings.
    """

    def __init__(self, config: EnhancerConfig) -> None:
        self._config = config
        self._loaded: dict[str, Backend] = {}
        self._errors: dict[str, str] = {}
        self.load_seconds: dict[str, float] = {}

    @property
    def names(self) -> list[str]:
        """The backends this server offers (``onnx`` only with a model)."""
        return ["opencv", "onnx"] if self._config.model is not None else ["opencv"]

    def load(self) -> None:
        """Loads and warms every offered backend; a failure is kept, not raised."""
        self._load("opencv", lambda: OpenCvEnhancer())
        if self._config.model is not None:
            self._load("onnx", self._load_onnx)

    def _load(self, name: str, build: Callable[[], Backend]) -> None:
        started = time.perf_counter()
        try:
            backend = build()
            _warm(backend)
        except ModelLoadError as error:
            self._errors[name] = error.for_callers
            _LOGGER.error(
                "enhancer backend %r is NOT_SERVING (health check %s), the others keep serving: %s",
                name,
                backend_health_name(name),
                error,
            )
            return
        self._loaded[name] = backend
        self.load_seconds[name] = time.perf_counter() - started

    def _load_onnx(self) -> OnnxRestorer:
        assert self._config.model is not None
        model = RestorationModel(
            self._config.model, threads=self._config.threads, device=self._config.device
        )
        return OnnxRestorer(model)

    def get(self, name: str) -> Backend:
        """The loaded backend called ``name`` (empty: the default).

        Raises:
            UnknownBackendError: No backend has that name here.
            BackendUnavailableError: It is offered but did not load.
        """
        name = name or self._config.default_backend
        if name in self._loaded:
            return self._loaded[name]
        if name in self._errors:
            raise BackendUnavailableError(
                f"enhancer backend {name!r} is not serving: {self._errors[name]}"
            )
        if name == "onnx":
            raise BackendUnavailableError(
                "enhancer backend 'onnx' has no model: set AVATAR_ENHANCER_MODEL=/path/model.onnx"
            )
        raise UnknownBackendError(
            f"unknown enhancer backend {name[:64]!r}; available: {', '.join(self.names)}"
        )

    def health(self) -> dict[str, bool]:
        """Each offered backend's health-check name and whether it serves."""
        return {backend_health_name(name): name in self._loaded for name in self.names}


def backend_health_name(backend: str) -> str:
    """The standard health check's name for one backend, e.g.
    ``avatar.enhancer.v1.EnhancerService/onnx``."""
    return f"avatar.enhancer.v1.EnhancerService/{backend}"


def _warm(backend: Backend) -> None:
    """Runs the backend once, so a broken model fails now and the first stream is not slow."""
    side = 128
    frame = np.full((side, side, 3), 128, np.uint8)
    landmarks = FaceLandmarks(FFHQ_TEMPLATE * np.float32(side))
    backend.enhance(frame, EnhanceSettings(), landmarks)
