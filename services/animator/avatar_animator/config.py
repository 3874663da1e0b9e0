"""Configuration of the animator service, from ``AVATAR_ANIMATOR_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from avatar_core.config import ConfigError, EnvReader, ServerConfig
from avatar_core.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

LIPSYNC_DEVICES = ("auto", "cpu", "cuda")
"""Where a lip-sync model may run."""


@dataclass(frozen=True, slots=True)
class AnimatorConfig:
    """Animator settings.

    Attributes:
        server: Shared server settings (``AVATAR_ANIMATOR_PORT`` etc.).
        frame_width: Width of rendered frames (``AVATAR_ANIMATOR_FRAME_WIDTH``).
        frame_height: Height of rendered frames (``AVATAR_ANIMATOR_FRAME_HEIGHT``).
        crop_scale: Frame height in face sizes; 3 shows head and shoulders
            (``AVATAR_ANIMATOR_CROP_SCALE``).
        cache_size: Prepared faces kept in memory (``AVATAR_ANIMATOR_CACHE_SIZE``).
        workers: Threads that render and encode frames (``AVATAR_ANIMATOR_WORKERS``).
        max_image_bytes: Largest accepted photo file (``AVATAR_ANIMATOR_MAX_IMAGE_BYTES``).
        max_image_pixels: Largest accepted photo area (``AVATAR_ANIMATOR_MAX_IMAGE_PIXELS``).
        max_audio_seconds: Longest utterance one Animate call accepts
            (``AVATAR_ANIMATOR_MAX_AUDIO_SECONDS``).
        lipsync_model: A lip-sync model (Wav2Lip or EDTalk layout) that draws the mouth
            of streams that ask for none (``AVATAR_ANIMATOR_LIPSYNC_MODEL``); None
            leaves the default renderer alone.
        lipsync_threads: ONNX Runtime intra-op threads of the lip-sync model
            (``AVATAR_ANIMATOR_LIPSYNC_THREADS``; 0 lets ONNX Runtime choose).
        lipsync_device: Where the lip-sync model runs (``AVATAR_ANIMATOR_LIPSYNC_DEVICE``):
            ``auto`` (CUDA when ONNX Runtime has it, else CPU), ``cpu`` or ``cuda``.
        lipsync_weight: Strength of the lip motion for models with a ``weight`` input
            (EDTalk; ``AVATAR_ANIMATOR_LIPSYNC_WEIGHT``, 0-1).
    """

    server: ServerConfig
    frame_width: int = 512
    frame_height: int = 512
    crop_scale: float = 3.0
    cache_size: int = 32
    workers: int = 2
    max_image_bytes: int = DEFAULT_MAX_BYTES
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    max_audio_seconds: float = 300.0
    lipsync_model: Path | None = None
    lipsync_threads: int = 0
    lipsync_device: str = "auto"
    lipsync_weight: float = 0.5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AnimatorConfig:
        """Reads and validates the settings; a bad value raises ``ConfigError``.

        A lip-sync model is only named here: a file that is missing or unusable leaves
        the lip-sync backend NOT_SERVING at start (the default renderer serves).
        """
        env = EnvReader("AVATAR_ANIMATOR_", environ)
        model = env.string("LIPSYNC_MODEL")
        device = env.string("LIPSYNC_DEVICE", "auto").lower()
        if device not in LIPSYNC_DEVICES:
            raise ConfigError(
                f"{env.name('LIPSYNC_DEVICE')}={device!r} is unknown; "
                f"use one of {', '.join(LIPSYNC_DEVICES)}"
            )
        return cls(
            server=ServerConfig.from_env("animator", environ),
            frame_width=env.integer("FRAME_WIDTH", 512, minimum=64, maximum=2048),
            frame_height=env.integer("FRAME_HEIGHT", 512, minimum=64, maximum=2048),
            crop_scale=env.number("CROP_SCALE", 3.0, minimum=1.5, maximum=8.0),
            cache_size=env.integer("CACHE_SIZE", 32, minimum=1, maximum=10_000),
            workers=env.integer("WORKERS", 2, minimum=1, maximum=64),
            max_image_bytes=env.integer(
                "MAX_IMAGE_BYTES", DEFAULT_MAX_BYTES, minimum=1024, maximum=1 << 30
            ),
            max_image_pixels=env.integer(
                "MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS, minimum=64 * 64, maximum=400_000_000
            ),
            max_audio_seconds=env.number("MAX_AUDIO_SECONDS", 300.0, minimum=1.0, maximum=3600.0),
            lipsync_model=Path(model).expanduser() if model else None,
            lipsync_threads=env.integer("LIPSYNC_THREADS", 0, minimum=0, maximum=256),
            lipsync_device=device,
            lipsync_weight=env.number("LIPSYNC_WEIGHT", 0.5, minimum=0.0, maximum=1.0),
        )
