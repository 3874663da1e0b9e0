"""A user-supplied lip-sync model in ONNX: loading, layout check, batched inference.

Two layouts of the widely distributed exports are understood, read from the model's
inputs when it loads:

* **Wav2Lip** (``wav2lip_96.onnx``, ``wav2lip_gan_96.onnx``): ``source`` [b,1,80,16],
  a mel window per frame, and ``target`` [b,6,S,S] (S = 96), the face crop with its
  lower half zeroed followed on the channels by the unmasked crop as reference, BGR
  in [0, 1]; the output [b,3,S,S] is the crop with a new lower half, BGR in [0, 1].
* **EDTalk** (``edtalk_256.onnx``): ``source`` [b,1,80,16], ``target`` [b,3,S,S]
  (S = 256), the face aligned to the FFHQ five-point template, RGB in [0, 1], and
  ``weight`` [1], the strength of the lip motion; the output [b,3,S,S] is the crop,
  RGB in [0, 1].

Anything else is refused with a message naming the file, what it has and what was
expected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avatar_core import onnx

_LOGGER = logging.getLogger(__name__)

EXPECTED_LAYOUT = (
    "Wav2Lip: `source` [b,1,80,16] and `target` [b,6,96,96] float; or EDTalk: `source` "
    "[b,1,80,16], `target` [b,3,256,256] and `weight` [1] float"
)
WAV2LIP = "Wav2Lip"
EDTALK = "EDTalk"
MAX_BATCH = 16
"""Most frames per model run (a dynamic batch); bounds the memory a long call takes."""
# ONNX Runtime's names of the element types these models use.
_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
_WEIGHT_TYPES = {**_FLOAT_TYPES, "tensor(double)": np.float64}


class LipSyncModelError(RuntimeError):
    """The lip-sync model cannot be used; the message names the file and the reason.

    Args:
        message: What is wrong, with the file's full path (for the server's log).
        path: The model file.
    """

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path

    @property
    def for_callers(self) -> str:
        """The message with the file named by its name only (callers do not see the
        server's directories)."""
        if self.path is None:
            return str(self)
        return str(self).replace(str(self.path), self.path.name)


@dataclass(frozen=True, slots=True)
class LipSyncLayout:
    """What the model's inputs say about it.

    Attributes:
        family: ``Wav2Lip`` or ``EDTalk``.
        size: S, the side of the face crop it takes and returns.
        batch: The fixed batch size of its inputs, or None when any batch goes.
        input_type: numpy type of ``source`` and ``target``.
        weight_type: numpy type of ``weight`` (EDTalk), else None.
    """

    family: str
    size: int
    batch: int | None
    input_type: type
    weight_type: type | None = None


def _describe(arguments) -> str:
    """``name [dims] type`` of each input or output, as found in the file."""
    described = []
    for argument in arguments:
        dims = ",".join(str(d) if isinstance(d, int) else str(d or "?") for d in argument.shape)
        kind = argument.type.removeprefix("tensor(").removesuffix(")")
        described.append(f"`{argument.name}` [{dims}] {kind}")
    return ", ".join(described) or "nothing"


def _fixed(dim) -> int | None:
    """A dimension's size, or None when it is symbolic (ONNX Runtime gives a name or None)."""
    return dim if isinstance(dim, int) and dim > 0 else None


def _mel_ok(source) -> bool:
    shape = list(source.shape)
    return source.type in _FLOAT_TYPES and len(shape) == 4 and shape[1:] == [1, 80, 16]


def _image_channels_and_size(target) -> tuple[int, int] | None:
    """(channels, S) of a square float image input, or None."""
    shape = list(target.shape)
    if target.type not in _FLOAT_TYPES or len(shape) != 4:
        return None
    channels, height, width = (_fixed(d) for d in shape[1:])
    if channels is None or height is None or height != width or height < 32:
        return None
    return channels, height


def _weight_ok(weight) -> bool:
    shape = list(weight.shape)
    return weight.type in _WEIGHT_TYPES and (not shape or shape == [1])


def _batch(source, target) -> int | None:
    """The inputs' common fixed batch size (None: dynamic); 0 when they disagree."""
    first, second = _fixed(source.shape[0]), _fixed(target.shape[0])
    if first is not None and second is not None and first != second:
        return 0
    return first or second


def read_layout(path: Path, inputs, outputs) -> LipSyncLayout:
    """Checks a session's inputs and outputs against the known lip-sync layouts.

    Args:
        path: The model's path, for messages.
        inputs: ``session.get_inputs()``.
        outputs: ``session.get_outputs()``.

    Raises:
        LipSyncModelError: The inputs or outputs are of another layout.
    """
    by_name = {argument.name: argument for argument in inputs}
    found = f"{path} has inputs {_describe(inputs)}; expected {EXPECTED_LAYOUT}"
    if "input" in by_name and "source" not in by_name:
        found += " (this looks like a face-restoration model: the enhancer takes those)"
    source, target = by_name.get("source"), by_name.get("target")
    if source is None or target is None or not _mel_ok(source):
        raise LipSyncModelError(found, path)
    image = _image_channels_and_size(target)
    weight = by_name.get("weight")
    if by_name.keys() == {"source", "target"} and image is not None and image[0] == 6:
        family = WAV2LIP
    elif (
        by_name.keys() == {"source", "target", "weight"}
        and image is not None
        and image[0] == 3
        and _weight_ok(weight)
    ):
        family = EDTALK
    else:
        raise LipSyncModelError(found, path)
    batch = _batch(source, target)
    if batch == 0 or source.type != target.type:
        raise LipSyncModelError(f"{found} (`source` and `target` must agree)", path)
    size = image[1]
    output = list(outputs[0].shape) if outputs else []
    if len(output) != 4 or _fixed(output[1]) not in (3, None):
        raise LipSyncModelError(
            f"{path} has outputs {_describe(outputs)}; expected the first to be [b,3,{size},{size}]",
            path,
        )
    return LipSyncLayout(
        family=family,
        size=size,
        batch=batch,
        input_type=_FLOAT_TYPES[source.type],
        weight_type=None if weight is None else _WEIGHT_TYPES[weight.type],
    )


def execution_providers(device: str, available: list[str]) -> list[str]:
    """The ONNX Runtime providers to ask for: CUDA when present (or demanded), else CPU.

    Raises:
        LipSyncModelError: ``cuda`` was demanded but this ONNX Runtime has no CUDA provider.
    """
    try:
        return onnx.execution_providers(device, available, "AVATAR_ANIMATOR_LIPSYNC_DEVICE")
    except onnx.DeviceUnavailableError as error:
        raise LipSyncModelError(str(error)) from None


_reason = onnx.runtime_reason


class LipSyncModel:
    """An ONNX Runtime session of a lip-sync model; thread-safe.

    Args:
        path: The ``.onnx`` file.
        threads: ONNX Runtime intra-op threads; 0 lets it choose (one per core).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.

    Raises:
        LipSyncModelError: The file is missing, unreadable, not a model ONNX Runtime
            can load, or of another layout.
    """

    def __init__(self, path: Path, threads: int = 0, device: str = "auto") -> None:
        import onnxruntime

        self.path = Path(path)
        try:
            data = self.path.read_bytes()
        except OSError as error:
            raise LipSyncModelError(
                f"cannot read the lip-sync model {self.path}: {error.strerror or error}; "
                f"expected an ONNX file with {EXPECTED_LAYOUT}",
                self.path,
            ) from error
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # unused-initialiser warnings of exports are noise
        providers = execution_providers(device, onnxruntime.get_available_providers())
        try:
            self._session: Any = onnxruntime.InferenceSession(data, options, providers=providers)
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            raise LipSyncModelError(
                f"{self.path} is not a model ONNX Runtime can load ({len(data)} bytes: "
                f"{_reason(error)}); expected an ONNX file with {EXPECTED_LAYOUT}",
                self.path,
            ) from error
        self.layout = read_layout(
            self.path, self._session.get_inputs(), self._session.get_outputs()
        )
        self.provider = self._session.get_providers()[0]
        self._output = self._session.get_outputs()[0].name
        _LOGGER.info(
            "lip-sync model %s: %s layout, %d px, batch %s, on %s",
            self.path,
            self.layout.family,
            self.layout.size,
            self.layout.batch or "any",
            self.provider,
        )

    def run(self, mels: np.ndarray, faces: np.ndarray, weight: float = 0.5) -> np.ndarray:
        """Renders a batch of faces, in runs of at most :data:`MAX_BATCH` (or the model's
        fixed batch size).

        Args:
            mels: (n, 1, 80, 16) mel windows.
            faces: (n, 6 or 3, S, S) prepared crops, in [0, 1].
            weight: EDTalk's ``weight``; Wav2Lip models ignore it.

        Returns:
            (n, 3, S, S) float32, as the model gives them (clip to [0, 1] yourself).

        Raises:
            LipSyncModelError: The model failed or returned another shape.
        """
        step = self.layout.batch or MAX_BATCH
        outputs = [
            self._run_once(mels[start : start + step], faces[start : start + step], weight)
            for start in range(0, len(faces), step)
        ]
        return np.concatenate(outputs) if outputs else np.zeros((0, 3, *faces.shape[2:]))

    def _run_once(self, mels: np.ndarray, faces: np.ndarray, weight: float) -> np.ndarray:
        count = len(faces)
        fixed = self.layout.batch
        if fixed is not None and count < fixed:  # a fixed batch is padded with copies
            mels = np.concatenate([mels, np.repeat(mels[-1:], fixed - count, axis=0)])
            faces = np.concatenate([faces, np.repeat(faces[-1:], fixed - count, axis=0)])
        feeds = {
            "source": mels.astype(self.layout.input_type),
            "target": faces.astype(self.layout.input_type),
        }
        if self.layout.weight_type is not None:
            feeds["weight"] = np.array([weight], dtype=self.layout.weight_type)
        try:
            output = self._session.run([self._output], feeds)[0]
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            raise LipSyncModelError(
                f"{self.path} failed on a {list(faces.shape)} batch: {_reason(error)}", self.path
            ) from error
        output = np.asarray(output, dtype=np.float32)[:count]
        size = self.layout.size
        if output.shape != (count, 3, size, size):
            raise LipSyncModelError(
                f"{self.path} returned {list(output.shape)} for a {list(faces.shape)} batch; "
                f"expected [{count},3,{size},{size}]",
                self.path,
            )
        return output
