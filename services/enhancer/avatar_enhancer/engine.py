"""Frame enhancement engines (no gRPC here): the settings, the errors, the OpenCV backend.

The default :class:`OpenCvEnhancer` runs anywhere with no model: an edge-preserving
denoise, an unsharp mask and an optional 2x upscale. It is a pure function of each
frame, so a video does not flicker. The ``onnx`` backend (face restoration with a
user-supplied model) is :class:`avatar_enhancer.restorer.OnnxRestorer`; every backend
has ``name``, ``needs_faces`` and ``enhance(rgb, settings, landmarks)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_core.touchup import denoise_and_sharpen, gaussian_blur

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "EnhanceSettings",
    "EnhancerError",
    "OpenCvEnhancer",
    "UnknownBackendError",
    "check_frame",
    "gaussian_blur",
]


class EnhancerError(ValueError):
    """An enhancement request cannot be served (bad settings or frames)."""


class UnknownBackendError(EnhancerError):
    """No enhancer backend has the requested name."""


class BackendUnavailableError(EnhancerError):
    """The backend exists but cannot serve (its model is missing or failed to load)."""


@dataclass(frozen=True, slots=True)
class EnhanceSettings:
    """Settings of one enhancement stream.

    Attributes:
        upscale: 1 keeps the size, 2 doubles width and height.
        fidelity: 0-1, CodeFormer's w: higher stays closer to the input, lower
            restores (here: denoises and sharpens) more strongly.
    """

    upscale: int = 1
    fidelity: float = 0.7

    def __post_init__(self) -> None:
        if self.upscale not in (1, 2):
            raise EnhancerError(f"upscale must be 1 or 2, got {self.upscale}")
        if not 0.0 <= self.fidelity <= 1.0:
            raise EnhancerError(f"fidelity must be between 0 and 1, got {self.fidelity}")


class OpenCvEnhancer:
    """Denoise + sharpen (+ upscale) with OpenCV; deterministic per frame.

    The filter is :func:`avatar_core.touchup.denoise_and_sharpen`, which the animator
    also runs on the moving regions of high quality's frames.
    """

    name = "opencv"
    # The whole frame is filtered: no landmarks needed.
    needs_faces = False

    def enhance(self, rgb: np.ndarray, settings: EnhanceSettings, landmarks=None) -> np.ndarray:
        """Returns the enhanced frame (RGB uint8), upscaled when asked.

        Args:
            rgb: Input frame, height x width x 3, uint8.
            settings: Strength and scale.
            landmarks: Ignored: the filter treats every pixel alike.
        """
        check_frame(rgb)
        return denoise_and_sharpen(rgb, settings.fidelity, settings.upscale)


def check_frame(rgb: np.ndarray) -> None:
    """Raises :class:`EnhancerError` unless ``rgb`` is an RGB uint8 frame."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise EnhancerError(f"expected an RGB uint8 frame, got shape {rgb.shape} {rgb.dtype}")


# Every backend's name; "onnx" serves only when a model is configured and loads.
BACKENDS = (OpenCvEnhancer.name, "onnx")
