"""The ONNX reader and editor, checked against the reference parser on the bundled voices."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from avatar_tts.engines.onnx_graph import (
    OnnxModelError,
    graph_nodes,
    inference_session,
    read_model,
    with_extra_outputs,
)
from tests.tts.neural_voices import hibari_model_path, joe_model_path


@pytest.fixture(scope="module", params=["hibari", "joe"])
def model_path(request):
    return hibari_model_path() if request.param == "hibari" else joe_model_path()


def test_nodes_are_those_the_reference_parser_reads(model_path):
    ours = graph_nodes(read_model(model_path))
    reference = onnx.load(str(model_path)).graph.node
    assert len(ours) == len(reference) > 1000
    for node, expected in zip(ours, reference, strict=True):
        assert (node.name, node.op_type) == (expected.name, expected.op_type)
        assert node.inputs == tuple(expected.input)
        assert node.outputs == tuple(expected.output)


def test_an_added_output_is_a_graph_output_that_onnx_runtime_returns():
    model = read_model(hibari_model_path())
    edited = with_extra_outputs(model, ["/Clip_output_0"])
    outputs = [output.name for output in onnx.load_from_string(edited).graph.output]
    assert outputs == ["lh", "theta", "ln", "lr", "phi", "f0", "/Clip_output_0"]
    session = inference_session(edited, 1, "hibari")
    ids = np.asarray([[0, 50, 47, 54, 57, 0]], np.int64)  # pad, h, e, l, o, pad
    results = session.run(None, {"ids": ids, "speed": np.ones(1, np.float32)})
    durations = results[-1]
    assert durations.shape == (6,) and durations.min() >= 1
    # Each unit is two of the spectrum's frames: the durations cover the output exactly.
    assert 2 * durations.sum() == results[0].shape[-1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff" * 64, "not ONNX"),
        (b"plain text, not a model", "not ONNX"),
        (b"\x08\x07", "no ONNX graph"),
    ],
)
def test_bytes_that_are_not_onnx_are_refused_clearly(data, message):
    with pytest.raises(OnnxModelError, match=message):
        graph_nodes(data)


def test_a_truncated_model_is_refused_clearly():
    truncated = read_model(joe_model_path())[: 1 << 20]
    with pytest.raises(OnnxModelError, match="truncated"):
        graph_nodes(truncated)
    with pytest.raises(OnnxModelError, match="ONNX Runtime cannot load"):
        inference_session(truncated, 1, "a cut download")


def test_a_missing_or_empty_file_is_refused_with_its_name(tmp_path):
    with pytest.raises(OnnxModelError, match=f"cannot read {tmp_path / 'gone.onnx'}"):
        read_model(tmp_path / "gone.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(OnnxModelError, match="is empty"):
        read_model(tmp_path / "empty.onnx")
