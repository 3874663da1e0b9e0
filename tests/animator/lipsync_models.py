"""Tiny ONNX lip-sync models of the real exports' layouts, built with onnx.helper.

Wav2Lip: ``source`` [b,1,80,16] and ``target`` [b,6,96,96] -> [b,3,96,96] in [0, 1];
EDTalk: ``source``, ``target`` [b,3,256,256] and ``weight`` [1] -> [b,3,256,256]; and
files of other layouts, for the errors. A few random convolutions and the audio's
mean level, through a sigmoid: enough to repaint a face visibly, cheap to run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 9  # what every ONNX Runtime 1.20+ reads


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def _tensor(name: str, dims: list, kind: int = TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, kind, dims)


def _painter(rng: np.random.Generator, channels: int, hidden: int = 8):
    """target -> conv, relu, conv, plus the audio's mean level -> sigmoid -> ``output``."""
    weights = [
        numpy_helper.from_array(
            rng.normal(0, 0.4, (hidden, channels, 3, 3)).astype(np.float32), "w1"
        ),
        numpy_helper.from_array(rng.normal(0, 0.05, hidden).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(0, 0.4, (3, hidden, 3, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(3, np.float32), "b2"),
        numpy_helper.from_array(np.array(0.5, np.float32), "audio_gain"),
    ]
    nodes = [
        helper.make_node("Conv", ["target", "w1", "b1"], ["h1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("Conv", ["h2", "w2", "b2"], ["h3"], pads=[1, 1, 1, 1]),
        # Louder audio (a higher mel level) brightens the face: the output depends on it.
        helper.make_node("ReduceMean", ["source"], ["level"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Mul", ["level", "audio_gain"], ["audio"]),
        helper.make_node("Add", ["h3", "audio"], ["h4"]),
    ]
    return nodes, weights


def wav2lip_layout(path: Path, size: int = 96, seed: int = 0, batch: int | str = "batch") -> Path:
    """``source`` [b,1,80,16], ``target`` [b,6,S,S] -> ``output`` [b,3,S,S] in (0, 1)."""
    nodes, weights = _painter(np.random.default_rng(seed), 6)
    nodes.append(helper.make_node("Sigmoid", ["h4"], ["output"]))
    inputs = [_tensor("source", [batch, 1, 80, 16]), _tensor("target", [batch, 6, size, size])]
    outputs = [_tensor("output", [batch, 3, size, size])]
    return _save(helper.make_graph(nodes, "tiny_wav2lip", inputs, outputs, weights), path)


def edtalk_layout(path: Path, size: int = 256, seed: int = 0) -> Path:
    """``source``, ``target`` [b,3,S,S] and ``weight`` [1] -> ``output`` [b,3,S,S]:
    ``weight`` scales how much of the repaint replaces the input."""
    nodes, weights = _painter(np.random.default_rng(seed), 3)
    nodes += [
        helper.make_node("Sigmoid", ["h4"], ["repaint"]),
        helper.make_node("Sub", ["repaint", "target"], ["change"]),
        helper.make_node("Mul", ["change", "weight"], ["scaled"]),
        helper.make_node("Add", ["target", "scaled"], ["output"]),
    ]
    inputs = [
        _tensor("source", ["batch", 1, 80, 16]),
        _tensor("target", ["batch", 3, size, size]),
        _tensor("weight", [1]),
    ]
    outputs = [_tensor("output", ["batch", 3, size, size])]
    return _save(helper.make_graph(nodes, "tiny_edtalk", inputs, outputs, weights), path)


def identity_of(path: Path, inputs: dict[str, list], output_of: str) -> Path:
    """A model with the given float inputs whose one output is ``output_of`` unchanged."""
    values = [_tensor(name, dims) for name, dims in inputs.items()]
    node = helper.make_node("Identity", [output_of], ["output"])
    output = _tensor("output", inputs[output_of])
    return _save(helper.make_graph([node], "other_layout", values, [output]), path)


def shrinking(path: Path, size: int = 96) -> Path:
    """The Wav2Lip inputs, but the output is half the size (a broken export)."""
    nodes = [
        helper.make_node("Slice", ["target", "starts", "ends", "axes"], ["colour"]),
        helper.make_node("MaxPool", ["colour"], ["output"], kernel_shape=[2, 2], strides=[2, 2]),
    ]
    weights = [
        numpy_helper.from_array(np.array([0], np.int64), "starts"),
        numpy_helper.from_array(np.array([3], np.int64), "ends"),
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
    ]
    inputs = [_tensor("source", ["b", 1, 80, 16]), _tensor("target", ["b", 6, size, size])]
    outputs = [_tensor("output", ["b", 3, size // 2, size // 2])]
    return _save(helper.make_graph(nodes, "shrinking", inputs, outputs, weights), path)
