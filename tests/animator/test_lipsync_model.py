"""Loading user-supplied lip-sync models: layouts found, bad files refused with clear words."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_animator.config import AnimatorConfig
from avatar_animator.lipsync import LipSyncRenderer
from avatar_animator.lipsync_model import EDTALK, WAV2LIP, LipSyncModel, LipSyncModelError
from avatar_core.config import ConfigError
from tests.animator.lipsync_models import edtalk_layout, identity_of, shrinking, wav2lip_layout


def test_a_wav2lip_model_is_recognised_with_its_size_and_any_batch(tmp_path):
    model = LipSyncModel(wav2lip_layout(tmp_path / "wav2lip_96.onnx"), threads=1)
    assert (model.layout.family, model.layout.size, model.layout.batch) == (WAV2LIP, 96, None)
    assert model.layout.weight_type is None
    mels = np.zeros((20, 1, 80, 16), np.float32)
    output = model.run(mels, np.full((20, 6, 96, 96), 0.5, np.float32))
    assert output.shape == (20, 3, 96, 96) and np.all((output > 0) & (output < 1))


def test_a_fixed_batch_of_one_runs_frame_by_frame(tmp_path):
    model = LipSyncModel(wav2lip_layout(tmp_path / "one.onnx", batch=1), threads=1)
    assert model.layout.batch == 1
    faces = np.random.default_rng(0).random((3, 6, 96, 96), dtype=np.float32)
    output = model.run(np.zeros((3, 1, 80, 16), np.float32), faces)
    assert output.shape == (3, 3, 96, 96)
    dynamic = LipSyncModel(wav2lip_layout(tmp_path / "any.onnx"), threads=1)
    expected = dynamic.run(np.zeros((3, 1, 80, 16), np.float32), faces)
    assert np.allclose(output, expected, atol=1e-5)


def test_an_edtalk_model_is_recognised_and_takes_its_weight(tmp_path):
    model = LipSyncModel(edtalk_layout(tmp_path / "edtalk_256.onnx"), threads=1)
    assert (model.layout.family, model.layout.size) == (EDTALK, 256)
    assert model.layout.weight_type is np.float32
    faces = np.full((2, 3, 256, 256), 0.5, np.float32)
    mels = np.zeros((2, 1, 80, 16), np.float32)
    untouched = model.run(mels, faces, weight=0.0)
    assert np.allclose(untouched, faces)
    assert np.abs(model.run(mels, faces, weight=1.0) - faces).mean() > 0.05


def test_the_audio_changes_the_output(tmp_path):
    model = LipSyncModel(wav2lip_layout(tmp_path / "wav2lip.onnx"), threads=1)
    faces = np.full((1, 6, 96, 96), 0.5, np.float32)
    silent = model.run(np.full((1, 1, 80, 16), -4.0, np.float32), faces)
    loud = model.run(np.full((1, 1, 80, 16), 2.0, np.float32), faces)
    assert np.abs(loud - silent).mean() > 0.05


def _refused(path) -> str:
    with pytest.raises(LipSyncModelError) as caught:
        LipSyncRenderer(LipSyncModel(path, threads=1)).warm()
    return str(caught.value)


def test_a_missing_file_is_refused_naming_it_and_the_layouts(tmp_path):
    message = _refused(tmp_path / "nowhere.onnx")
    assert "cannot read the lip-sync model" in message and "nowhere.onnx" in message
    assert "No such file" in message and "`source` [b,1,80,16]" in message


def test_a_corrupt_file_is_refused_with_its_size(tmp_path):
    path = tmp_path / "wav2lip_gan_96.onnx"
    path.write_bytes(b"\x08\x07not really a model" * 10)
    message = _refused(path)
    assert f"{path} is not a model ONNX Runtime can load (200 bytes" in message
    assert "expected an ONNX file with Wav2Lip" in message


@pytest.mark.parametrize(
    ("inputs", "output_of", "found"),
    [
        # A face-restoration model: the enhancer's.
        ({"input": [1, 3, 512, 512]}, "input", "`input` [1,3,512,512] float"),
        # A mel window of another length.
        (
            {"source": [1, 1, 80, 32], "target": [1, 6, 96, 96]},
            "target",
            "`source` [1,1,80,32] float",
        ),
        # Three channels without a weight: neither layout.
        (
            {"source": [1, 1, 80, 16], "target": [1, 3, 96, 96]},
            "target",
            "`target` [1,3,96,96] float",
        ),
        # Batches that disagree.
        ({"source": [2, 1, 80, 16], "target": [3, 6, 96, 96]}, "target", "must agree"),
    ],
)
def test_an_unknown_layout_is_refused_saying_what_was_found_and_expected(
    tmp_path, inputs, output_of, found
):
    path = identity_of(tmp_path / "other.onnx", inputs, output_of)
    message = _refused(path)
    assert str(path) in message and found in message
    assert "expected Wav2Lip: `source` [b,1,80,16] and `target` [b,6,96,96]" in message
    if "input" in inputs:
        assert "face-restoration model: the enhancer takes those" in message


def test_a_model_whose_output_has_the_wrong_size_fails_at_warm_up(tmp_path):
    message = _refused(shrinking(tmp_path / "shrinking.onnx"))
    assert "returned [1, 3, 48, 48] for a [1, 6, 96, 96] batch; expected [1,3,96,96]" in message


def test_the_message_for_callers_names_the_file_without_its_directory(tmp_path):
    with pytest.raises(LipSyncModelError) as caught:
        LipSyncModel(tmp_path / "gone.onnx")
    assert str(tmp_path) not in caught.value.for_callers
    assert "gone.onnx" in caught.value.for_callers


def test_the_lipsync_settings_are_read_and_checked():
    config = AnimatorConfig.from_env(
        {
            "AVATAR_ANIMATOR_LIPSYNC_MODEL": "/models/wav2lip_gan_96.onnx",
            "AVATAR_ANIMATOR_LIPSYNC_THREADS": "2",
            "AVATAR_ANIMATOR_LIPSYNC_DEVICE": "CPU",
            "AVATAR_ANIMATOR_LIPSYNC_WEIGHT": "0.8",
        }
    )
    assert str(config.lipsync_model) == "/models/wav2lip_gan_96.onnx"
    assert (config.lipsync_threads, config.lipsync_device, config.lipsync_weight) == (2, "cpu", 0.8)
    assert AnimatorConfig.from_env({}).lipsync_model is None
    with pytest.raises(ConfigError, match="AVATAR_ANIMATOR_LIPSYNC_DEVICE='tpu' is unknown"):
        AnimatorConfig.from_env({"AVATAR_ANIMATOR_LIPSYNC_DEVICE": "tpu"})
    with pytest.raises(ConfigError, match="AVATAR_ANIMATOR_LIPSYNC_WEIGHT=2.0 is above"):
        AnimatorConfig.from_env({"AVATAR_ANIMATOR_LIPSYNC_WEIGHT": "2"})
