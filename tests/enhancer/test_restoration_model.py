"""Loading a user's restoration model: its layout is read, and bad files are named."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_enhancer.restoration_model import (
    ModelLoadError,
    RestorationModel,
    execution_providers,
)
from tests.enhancer.restoration_models import codeformer_layout, gfpgan_layout, identity_of

EXPECTED = "`input` [1,3,S,S] float RGB in [-1,1] (GFPGAN, GPEN, RestoreFormer)"


def test_the_gfpgan_layout_is_read_from_the_model(tmp_path):
    model = RestorationModel(gfpgan_layout(tmp_path / "gfpgan.onnx", size=96))
    assert model.layout.size == 96 and model.layout.weight_type is None
    assert model.layout.family == "GFPGAN/GPEN/RestoreFormer"
    assert model.provider == "CPUExecutionProvider"
    restored = model.restore(np.full((96, 96, 3), 200, np.uint8), 0.7)
    assert restored.shape == (96, 96, 3) and restored.dtype == np.uint8


def test_the_codeformer_layout_has_a_double_weight(tmp_path):
    model = RestorationModel(codeformer_layout(tmp_path / "codeformer.onnx", size=64))
    assert model.layout.family == "CodeFormer" and model.layout.weight_type is np.float64
    crop = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    # w = 1 gives the input back, up to rounding.
    assert np.abs(model.restore(crop, 1.0).astype(int) - crop).max() <= 1


def test_a_missing_file_is_named(tmp_path):
    path = tmp_path / "GFPGANv1.4.onnx"
    with pytest.raises(ModelLoadError) as error:
        RestorationModel(path)
    message = str(error.value)
    assert f"cannot read the restoration model {path}: No such file or directory" in message
    assert EXPECTED in message


def test_a_corrupt_file_is_named_with_what_it_holds(tmp_path):
    path = tmp_path / "codeformer.onnx"
    path.write_bytes(b"<html>404 Not Found</html>" * 10)
    with pytest.raises(ModelLoadError) as error:
        RestorationModel(path)
    message = str(error.value)
    assert f"{path} is not a model ONNX Runtime can load (260 bytes: " in message
    assert EXPECTED in message


def test_a_truncated_model_is_refused(tmp_path):
    whole = gfpgan_layout(tmp_path / "whole.onnx").read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ModelLoadError, match="is not a model ONNX Runtime can load"):
        RestorationModel(path)


@pytest.mark.parametrize(
    ("inputs", "found"),
    [
        ({"image": [1, 3, 64, 64]}, "inputs `image` [1,3,64,64] float"),
        ({"input": [1, 3, 64, 32]}, "inputs `input` [1,3,64,32] float"),
        ({"input": [1, 4, 64, 64]}, "inputs `input` [1,4,64,64] float"),
        ({"input": [1, 3, 64, 64], "mask": [1, 1, 64, 64]}, "`mask` [1,1,64,64] float"),
        ({"input": [1, 3, 64, 64], "weight": [2, 2]}, "`weight` [2,2] float"),
        (
            {"source": [1, 1, 80, 16], "target": [1, 6, 96, 96]},
            "`source` [1,1,80,16] float, `target` [1,6,96,96] float; expected",
        ),
    ],
    ids=[
        "other input name",
        "not square",
        "four channels",
        "extra input",
        "weight of two dimensions",
        "lip-sync model",
    ],
)
def test_an_unknown_layout_says_what_was_found_and_what_was_expected(tmp_path, inputs, found):
    path = identity_of(tmp_path / "other.onnx", inputs, next(iter(inputs)))
    with pytest.raises(ModelLoadError) as error:
        RestorationModel(path)
    message = str(error.value)
    assert message.startswith(f"{path} has inputs ")
    assert found in message and f"; expected {EXPECTED}" in message


def test_a_lip_sync_model_given_to_the_enhancer_gets_a_hint(tmp_path):
    inputs = {"source": [1, 1, 80, 16], "target": [1, 6, 96, 96]}
    path = identity_of(tmp_path / "wav2lip_gan_96.onnx", inputs, "target")
    with pytest.raises(ModelLoadError, match="looks like a lip-sync model"):
        RestorationModel(path)


def test_cuda_is_used_when_present_and_refused_clearly_when_demanded_but_absent():
    with_cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert execution_providers("auto", with_cuda) == with_cuda
    assert execution_providers("cpu", with_cuda) == ["CPUExecutionProvider"]
    assert execution_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(ModelLoadError, match="AVATAR_ENHANCER_DEVICE=cuda, but ONNX Runtime"):
        execution_providers("cuda", ["CPUExecutionProvider"])
