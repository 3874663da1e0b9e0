"""Configuration of the animator service, from ``AVATAR_ANIMATOR_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from avatar_core.config import EnvReader, ServerConfig
from avatar_core.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AnimatorConfig:
        """Reads and validates the settings; a bad value raises ``ConfigError``."""
        env = EnvReader("AVATAR_ANIMATOR_", environ)
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
        )
