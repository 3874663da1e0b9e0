"""Configuration of the enhancer service, from ``AVATAR_ENHANCER_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from avatar_core.config import ConfigError, EnvReader, ServerConfig
from avatar_enhancer.engine import BACKENDS
from avatar_enhancer.restoration_model import DEVICES


@dataclass(frozen=True, slots=True)
class EnhancerConfig:
    """Enhancer settings.

    Attributes:
        server: Shared server settings (``AVATAR_ENHANCER_PORT`` etc.).
        default_backend: Backend used when a stream names none (``AVATAR_ENHANCER_BACKEND``).
        workers: Frames enhanced in parallel threads (``AVATAR_ENHANCER_WORKERS``).
        model: The ``onnx`` backend's face-restoration model (``AVATAR_ENHANCER_MODEL``);
            None offers no ``onnx`` backend.
        fidelity: Fidelity of streams that ask for none (``AVATAR_ENHANCER_FIDELITY``,
            CodeFormer's *w*; 0.7 as in the thesis).
        threads: ONNX Runtime intra-op threads per model (``AVATAR_ENHANCER_THREADS``;
            0 lets ONNX Runtime choose, one per core).
        device: Where the model runs (``AVATAR_ENHANCER_DEVICE``): ``auto`` (CUDA when
            ONNX Runtime has it, else CPU), ``cpu`` or ``cuda``.
    """

    server: ServerConfig
    default_backend: str = "opencv"
    workers: int = 2
    model: Path | None = None
    fidelity: float = 0.7
    threads: int = 0
    device: str = "auto"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EnhancerConfig:
        """Reads and validates the settings.

        Raises:
            ConfigError: A setting is invalid, or the ``onnx`` backend is the default
                but no model is configured (the server refuses to start).
        """
        env = EnvReader("AVATAR_ENHANCER_", environ)
        backend = env.string("BACKEND", "opencv")
        if backend not in BACKENDS:
            raise ConfigError(
                f"{env.name('BACKEND')}={backend!r} is unknown; available: {', '.join(BACKENDS)}"
            )
        model = env.string("MODEL")
        if backend == "onnx" and not model:
            raise ConfigError(
                f"{env.name('BACKEND')}=onnx needs a face-restoration model: set "
                f"{env.name('MODEL')}=/path/to/model.onnx (GFPGAN, GPEN, RestoreFormer or "
                "CodeFormer layout)"
            )
        device = env.string("DEVICE", "auto").lower()
        if device not in DEVICES:
            raise ConfigError(
                f"{env.name('DEVICE')}={device!r} is unknown; use one of {', '.join(DEVICES)}"
            )
        return cls(
            server=ServerConfig.from_env("enhancer", environ),
            default_backend=backend,
            workers=env.integer("WORKERS", 2, minimum=1, maximum=64),
            model=Path(model).expanduser() if model else None,
            fidelity=env.number("FIDELITY", 0.7, minimum=0.0, maximum=1.0),
            threads=env.integer("THREADS", 0, minimum=0, maximum=256),
            device=device,
        )
