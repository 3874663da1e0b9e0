"""Voice activity: the Silero VAD model from the ``faster-whisper`` wheel, run on a stream.

The model (``faster_whisper/assets/silero_vad*.onnx``, MIT) reads 512-sample windows of
16 kHz audio, each with the 64 samples before it, and carries an LSTM state from window
to window. One :class:`VoiceActivityModel` (an ONNX Runtime session, safe to share) serves
every stream; each stream has its own :class:`VoiceActivityStream` with its state, so a
stream fed in pieces gets exactly the probabilities of the whole audio read at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avatar_asr.audio import MODEL_RATE

WINDOW_SAMPLES = 512
"""Samples per decision at 16 kHz: 32 ms."""
WINDOW_SECONDS = WINDOW_SAMPLES / MODEL_RATE
_CONTEXT_SAMPLES = 64
_STATE_SHAPE = (1, 1, 128)
# Windows per model run: bounds one run's time when a client sends a long chunk at once.
_MAX_WINDOWS_PER_RUN = 64


class VoiceActivityModelError(RuntimeError):
    """The Silero model is missing or cannot be loaded."""


def silero_model_path() -> Path:
    """The Silero VAD model shipped in the installed ``faster-whisper`` wheel.

    Raises:
        VoiceActivityModelError: The wheel holds no ``silero_vad*.onnx``.
    """
    from faster_whisper.utils import get_assets_path

    found = sorted(Path(get_assets_path()).glob("silero_vad*.onnx"))
    if not found:
        raise VoiceActivityModelError(
            f"no silero_vad*.onnx in {get_assets_path()}: is faster-whisper installed whole?"
        )
    return found[-1]


class VoiceActivityModel:
    """The Silero VAD ONNX session.

    Args:
        path: The ``.onnx`` file; the wheel's when None.
    """

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime

        self.path = path or silero_model_path()
        options = onnxruntime.SessionOptions()
        # One window is ~0.5 ms of work: more threads only add hand-over cost.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ONNX Runtime raises its own exception types
            raise VoiceActivityModelError(
                f"{self.path}: not a usable Silero model: {error}"
            ) from error
        names = {tensor.name for tensor in self._session.get_inputs()}
        if names != {"input", "h", "c"}:
            raise VoiceActivityModelError(
                f"{self.path}: inputs {sorted(names)}, expected Silero's input, h and c"
            )

    def stream(self) -> VoiceActivityStream:
        """A new stream with a fresh state."""
        return VoiceActivityStream(self)

    def run(
        self, windows: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Speech probabilities of consecutive windows (each with its context), new state."""
        probabilities, h, c = self._session.run(None, {"input": windows, "h": h, "c": c})
        return np.asarray(probabilities, dtype=np.float32).reshape(-1), h, c


class VoiceActivityStream:
    """Speech probability per 32 ms window of one stream's 16 kHz audio.

    Args:
        model: The shared model.
    """

    def __init__(self, model: VoiceActivityModel) -> None:
        self._model = model
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Adds 16 kHz samples; returns the probabilities of the windows they complete."""
        audio = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        whole = len(audio) // WINDOW_SAMPLES * WINDOW_SAMPLES
        self._pending = audio[whole:]
        results = []
        for start in range(0, whole, WINDOW_SAMPLES * _MAX_WINDOWS_PER_RUN):
            block = audio[start : min(whole, start + WINDOW_SAMPLES * _MAX_WINDOWS_PER_RUN)]
            windows = block.reshape(-1, WINDOW_SAMPLES)
            contexts = np.concatenate(
                [self._context[None, :], windows[:-1, -_CONTEXT_SAMPLES:]], axis=0
            )
            batch = np.concatenate([contexts, windows], axis=1)
            probabilities, self._h, self._c = self._model.run(batch, self._h, self._c)
            self._context = windows[-1, -_CONTEXT_SAMPLES:].copy()
            results.append(probabilities)
        return np.concatenate(results) if results else np.zeros(0, dtype=np.float32)
