"""Tiny ONNX face-restoration models of the real exports' layouts, built with onnx.helper.

``input`` [1,3,S,S] in [-1,1] -> output of the same shape (GFPGAN, GPEN, RestoreFormer),
plus ``weight`` [1] double for CodeFormer; and files of other layouts, for the errors.
A few random convolutions: enough to change a face visibly, cheap to run.
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


def _restoration_nodes(rng: np.random.Generator, hidden: int = 8):
    """input -> conv, relu, conv, tanh -> ``repainted`` (a randomly repainted image)."""
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.4, (hidden, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(0, 0.05, hidden).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(0, 0.3, (3, hidden, 3, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(3, np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["h1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("Conv", ["h2", "w2", "b2"], ["h3"], pads=[1, 1, 1, 1]),
        helper.make_node("Tanh", ["h3"], ["repainted"]),
    ]
    return nodes, weights


def _image(name: str, size: int, channels: int = 3, height: int | None = None):
    return helper.make_tensor_value_info(
        name, TensorProto.FLOAT, [1, channels, height or size, size]
    )


def gfpgan_layout(path: Path, size: int = 64, seed: int = 0) -> Path:
    """``input`` [1,3,S,S] -> ``output``: half the input, half a random repaint."""
    nodes, weights = _restoration_nodes(np.random.default_rng(seed))
    weights.append(numpy_helper.from_array(np.array(0.5, np.float32), "half"))
    nodes += [
        helper.make_node("Add", ["input", "repainted"], ["sum"]),
        helper.make_node("Mul", ["sum", "half"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_gfpgan", [_image("input", size)], [_image("output", size)], weights
    )
    return _save(graph, path)


def codeformer_layout(path: Path, size: int = 64, seed: int = 0) -> Path:
    """``input`` [1,3,S,S] and ``weight`` [1] double -> w * input + (1 - w) * repaint."""
    nodes, weights = _restoration_nodes(np.random.default_rng(seed))
    weights.append(numpy_helper.from_array(np.array([1.0], np.float32), "one"))
    nodes += [
        helper.make_node("Cast", ["weight"], ["w"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one", "w"], ["rest"]),
        helper.make_node("Mul", ["input", "w"], ["kept"]),
        helper.make_node("Mul", ["repainted", "rest"], ["new"]),
        helper.make_node("Add", ["kept", "new"], ["output"]),
    ]
    inputs = [
        _image("input", size),
        helper.make_tensor_value_info("weight", TensorProto.DOUBLE, [1]),
    ]
    graph = helper.make_graph(nodes, "tiny_codeformer", inputs, [_image("output", size)], weights)
    return _save(graph, path)


def identity_of(path: Path, inputs: dict[str, list[int]], output_of: str) -> Path:
    """A model with the given float inputs whose one output is ``output_of`` unchanged."""
    values = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()]
    node = helper.make_node("Identity", [output_of], ["output"])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, inputs[output_of])
    return _save(helper.make_graph([node], "other_layout", values, [output]), path)


def shrinking(path: Path, size: int = 64) -> Path:
    """The restoration inputs, but the output is half the size (a broken export)."""
    node = helper.make_node("MaxPool", ["input"], ["output"], kernel_shape=[2, 2], strides=[2, 2])
    graph = helper.make_graph(
        [node], "shrinking", [_image("input", size)], [_image("output", size // 2)]
    )
    return _save(graph, path)
