"""A user-supplied face-restoration model in ONNX: loading, layout check, inference.

The widely distributed exports share one layout: ``input`` [1, 3, S, S], RGB in
[-1, 1], and one output of the same shape (GFPGAN, GPEN, RestoreFormer); CodeFormer
adds ``weight`` [1], a double, its fidelity *w*. The layout is read from the model
when it loads, and anything else is refused with a message naming the file, what it
has and what was expected.
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
    "`input` [1,3,S,S] float RGB in [-1,1] (GFPGAN, GPEN, RestoreFormer) and, for "
    "CodeFormer, `weight` [1] double"
)
# ONNX Runtime's names of the element types these models use.
_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
_WEIGHT_TYPES = {"tensor(double)": np.float64, "tensor(float)": np.float32}
DEVICES = ("auto", "cpu", "cuda")


class ModelLoadError(RuntimeError):
    """The restoration model cannot be used; the message names the file and the reason.

    Args:
        message: What is wrong, with the file's full path (for the server's log).
        path: The model file.
    """

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path

    @property
    def for_callers(self) -> str:
        """The message with the file named by its name only: callers do not see the
        server's directories (status messages lose paths anyway)."""
        if self.path is None:
            return str(self)
        return str(self).replace(str(self.path), self.path.name)


@dataclass(frozen=True, slots=True)
class ModelLayout:
    """What the model's inputs say about it.

    Attributes:
        size: S, the side of the aligned face crop it takes and returns.
        input_type: numpy type of ``input`` (float32 or float16).
        weight_type: numpy type of ``weight``, or None when the model has no fidelity input.
    """

    size: int
    input_type: type
    weight_type: type | None

    @property
    def family(self) -> str:
        """``CodeFormer`` when the model takes a fidelity weight, else the GFPGAN family."""
        return "CodeFormer" if self.weight_type is not None else "GFPGAN/GPEN/RestoreFormer"


def _describe(arguments) -> str:
    """``name [dims] type`` of each input or output, as found in the file."""
    described = []
    for argument in arguments:
        dims = ",".join(str(d) if isinstance(d, int) else str(d or "?") for d in argument.shape)
        kind = argument.type.removeprefix("tensor(").removesuffix(")")
        described.append(f"`{argument.name}` [{dims}] {kind}")
    return ", ".join(described) or "no inputs"


def _batch_of_one(dim) -> bool:
    """A batch dimension of 1, or a symbolic one (ONNX Runtime gives a name or None)."""
    return dim == 1 or not isinstance(dim, int)


def _image_ok(image) -> bool:
    shape = list(image.shape)
    return (
        image.type in _FLOAT_TYPES
        and len(shape) == 4
        and _batch_of_one(shape[0])
        and shape[1] == 3
        and isinstance(shape[2], int)
        and shape[2] == shape[3]
        and shape[2] >= 16
    )


def _weight_ok(weight) -> bool:
    shape = list(weight.shape)
    return weight.type in _WEIGHT_TYPES and (
        not shape or (len(shape) == 1 and _batch_of_one(shape[0]))
    )


def _output_ok(output) -> bool:
    shape = list(output.shape)
    return len(shape) == 4 and (shape[1] == 3 or not isinstance(shape[1], int))


def read_layout(source: Path, inputs, outputs) -> ModelLayout:
    """Checks a session's inputs and outputs against the restoration layout.

    Args:
        source: The model's path, for messages.
        inputs: ``session.get_inputs()``.
        outputs: ``session.get_outputs()``.

    Raises:
        ModelLoadError: The inputs or outputs are of another layout.
    """
    by_name = {argument.name: argument for argument in inputs}
    found = f"{source} has inputs {_describe(inputs)}; expected {EXPECTED_LAYOUT}"
    if {"source", "target"} <= by_name.keys():
        found += " (this looks like a lip-sync model: the animator takes those)"
    image, weight = by_name.get("input"), by_name.get("weight")
    if by_name.keys() - {"input", "weight"} or image is None or not _image_ok(image):
        raise ModelLoadError(found, source)
    if weight is not None and not _weight_ok(weight):
        raise ModelLoadError(found, source)
    size = image.shape[2]
    if not outputs or not _output_ok(outputs[0]):
        raise ModelLoadError(
            f"{source} has outputs {_describe(outputs)}; expected the first to be "
            f"[1,3,{size},{size}] RGB in [-1,1]",
            source,
        )
    return ModelLayout(
        size=size,
        input_type=_FLOAT_TYPES[image.type],
        weight_type=None if weight is None else _WEIGHT_TYPES[weight.type],
    )


def execution_providers(device: str, available: list[str]) -> list[str]:
    """The ONNX Runtime providers to ask for: CUDA when present (or demanded), else CPU.

    Raises:
        ModelLoadError: ``cuda`` was demanded but this ONNX Runtime has no CUDA provider.
    """
    try:
        return onnx.execution_providers(device, available, "AVATAR_ENHANCER_DEVICE")
    except onnx.DeviceUnavailableError as error:
        raise ModelLoadError(str(error)) from None


_reason = onnx.runtime_reason


class RestorationModel:
    """An ONNX Runtime session of a face-restoration model; thread-safe.

    Args:
        path: The ``.onnx`` file.
        threads: ONNX Runtime intra-op threads; 0 lets it choose (one per core).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.

    Raises:
        ModelLoadError: The file is missing, unreadable, not a model ONNX Runtime can
            load, or of another layout.
    """

    def __init__(self, path: Path, threads: int = 0, device: str = "auto") -> None:
        import onnxruntime

        self.path = Path(path)
        source = str(self.path)
        try:
            data = self.path.read_bytes()
        except OSError as error:
            raise ModelLoadError(
                f"cannot read the restoration model {source}: {error.strerror or error}; "
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
            reason = _reason(error)
            raise ModelLoadError(
                f"{source} is not a model ONNX Runtime can load ({len(data)} bytes: {reason}); "
                f"expected an ONNX file with {EXPECTED_LAYOUT}",
                self.path,
            ) from error
        self.layout = read_layout(
            self.path, self._session.get_inputs(), self._session.get_outputs()
        )
        self.provider = self._session.get_providers()[0]
        self._output = self._session.get_outputs()[0].name
        _LOGGER.info(
            "restoration model %s: %s layout, %d px, on %s",
            source,
            self.layout.family,
            self.layout.size,
            self.provider,
        )

    def restore(self, crop: np.ndarray, fidelity: float) -> np.ndarray:
        """Restores one aligned face crop.

        Args:
            crop: S x S x 3 RGB uint8, aligned to the FFHQ template.
            fidelity: CodeFormer's *w*, 0-1; models without ``weight`` ignore it.

        Returns:
            The restored crop, S x S x 3 RGB uint8.
        """
        tensor = crop.astype(np.float32).transpose(2, 0, 1)[np.newaxis] / 127.5 - 1.0
        feeds = {"input": tensor.astype(self.layout.input_type)}
        if self.layout.weight_type is not None:
            feeds["weight"] = np.array([fidelity], dtype=self.layout.weight_type)
        try:
            output = self._session.run([self._output], feeds)[0]
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            reason = _reason(error)
            raise ModelLoadError(
                f"{self.path} failed on a {list(tensor.shape)} input: {reason}", self.path
            ) from error
        image = np.asarray(output, dtype=np.float32)[0].transpose(1, 2, 0)
        if image.shape != crop.shape:
            raise ModelLoadError(
                f"{self.path} returned {list(output.shape)} for a {list(tensor.shape)} input; "
                "expected the same shape",
                self.path,
            )
        return np.clip((image + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
