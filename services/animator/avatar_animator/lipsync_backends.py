"""Who draws the mouth: the default renderer, or the lip-sync model when one is configured.

``default`` always serves. ``onnx`` exists when ``AVATAR_ANIMATOR_LIPSYNC_MODEL`` names
a model: loaded and run once during warm-up, it serves and draws the mouth of every
stream that asks for no backend; a model file that is missing, corrupt or of an
unknown layout leaves it NOT_SERVING (its own health check, one log line) while the
default renderer keeps serving. A stream that asks for ``onnx`` then gets the load
error; a stream that asks for nothing gets the default renderer, with a warning.
"""

from __future__ import annotations

import logging
import time

from avatar_animator.config import AnimatorConfig
from avatar_animator.errors import AnimatorError
from avatar_animator.lipsync import LipSyncRenderer
from avatar_animator.lipsync_model import LipSyncModel, LipSyncModelError

_LOGGER = logging.getLogger(__name__)

DEFAULT = "default"
ONNX = "onnx"


class LipSyncUnavailableError(AnimatorError):
    """The stream asked for the lip-sync model, which this server lacks or could not load."""


class UnknownLipSyncError(AnimatorError):
    """The stream named a lip-sync backend that does not exist."""


def backend_health_name(backend: str) -> str:
    """The standard health check's name for one backend, e.g.
    ``avatar.animator.v1.AnimatorService/onnx``."""
    return f"avatar.animator.v1.AnimatorService/{backend}"


class LipSyncBackends:
    """The lip-sync model of a server, if any, and the reason it could not load.

    Args:
        config: Service settings.

    Attributes:
        load_seconds: How long loading and warming the model took (None until it has).
    """

    def __init__(self, config: AnimatorConfig) -> None:
        self._config = config
        self._renderer: LipSyncRenderer | None = None
        self._error: str | None = None
        self.load_seconds: float | None = None

    @property
    def names(self) -> list[str]:
        """The backends this server offers (``onnx`` only with a model)."""
        return [DEFAULT, ONNX] if self._config.lipsync_model is not None else [DEFAULT]

    def load(self) -> None:
        """Loads and warms the model, if one is configured; a failure is kept, not raised."""
        path = self._config.lipsync_model
        if path is None:
            return
        started = time.perf_counter()
        try:
            model = LipSyncModel(
                path, threads=self._config.lipsync_threads, device=self._config.lipsync_device
            )
            renderer = LipSyncRenderer(model, weight=self._config.lipsync_weight)
            renderer.warm()
        except LipSyncModelError as error:
            self._error = error.for_callers
            _LOGGER.error(
                "animator lip-sync backend %r is NOT_SERVING (health check %s), the default "
                "renderer keeps serving: %s",
                ONNX,
                backend_health_name(ONNX),
                error,
            )
            return
        self._renderer = renderer
        self.load_seconds = time.perf_counter() - started

    def choose(self, requested: str) -> tuple[LipSyncRenderer | None, str, str | None]:
        """The renderer a stream gets for its ``lipsync`` setting.

        Args:
            requested: ``""`` (the server's default), ``"default"`` or ``"onnx"``.

        Returns:
            The lip-sync renderer (None for the default renderer), the backend's name,
            and a warning for the caller when the server's model could not be used.

        Raises:
            UnknownLipSyncError: No backend has that name.
            LipSyncUnavailableError: ``onnx`` was asked for, but it has no model or
                its model did not load.
        """
        if requested == DEFAULT:
            return None, DEFAULT, None
        if requested == ONNX:
            if self._renderer is not None:
                return self._renderer, ONNX, None
            raise LipSyncUnavailableError(self._unavailable_reason())
        if requested:
            raise UnknownLipSyncError(
                f"unknown lipsync backend {requested[:64]!r}; use one of "
                f"{', '.join(self.names)} (or leave it empty for the server's default)"
            )
        if self._renderer is not None:
            return self._renderer, ONNX, None
        if self._error is not None:
            return (
                None,
                DEFAULT,
                f"{self._unavailable_reason()}; the default renderer drew the mouth",
            )
        return None, DEFAULT, None

    def _unavailable_reason(self) -> str:
        if self._error is not None:
            return f"lipsync backend 'onnx' is not serving: {self._error}"
        return (
            "lipsync backend 'onnx' has no model: set AVATAR_ANIMATOR_LIPSYNC_MODEL to "
            "an .onnx file of the Wav2Lip or EDTalk layout"
        )

    def health(self) -> dict[str, bool]:
        """Each offered backend's health-check name and whether it serves."""
        serving = {DEFAULT: True, ONNX: self._renderer is not None}
        return {backend_health_name(name): serving[name] for name in self.names}
