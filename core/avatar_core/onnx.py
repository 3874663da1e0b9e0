"""What every unit that runs ONNX models needs from ONNX Runtime, without importing it:
the execution providers to ask for, and ONNX Runtime's own words when it refuses a file."""

from __future__ import annotations

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


class DeviceUnavailableError(ValueError):
    """The device a setting demands is not in this ONNX Runtime."""


def execution_providers(device: str, available: list[str], setting: str) -> list[str]:
    """The providers to ask for: CUDA when present (or demanded), else CPU.

    Args:
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        available: ``onnxruntime.get_available_providers()``.
        setting: The environment variable that chose ``device``, for the message.

    Raises:
        DeviceUnavailableError: ``cuda`` was demanded but there is no CUDA provider.
    """
    has_cuda = CUDA in available
    if device == "cuda" and not has_cuda:
        raise DeviceUnavailableError(
            f"{setting}=cuda, but ONNX Runtime offers only {', '.join(available)} "
            "(install onnxruntime-gpu on a machine with CUDA)"
        )
    if device != "cpu" and has_cuda:
        return [CUDA, CPU]
    return [CPU]


def runtime_reason(error: Exception) -> str:
    """ONNX Runtime's own words, without its ``[ONNXRuntimeError] : 7 : CODE :`` prefix."""
    text = str(error).strip()
    if not text:
        return repr(error)
    return text.splitlines()[0].rsplit(" : ", 1)[-1]
