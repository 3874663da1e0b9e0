"""The GlowTTS training recipe end to end: an espeak-spoken Croatian dataset, a few training
steps on the CPU, a resumed run through the ``avatar train-tts`` command, and the result
served by name through the gRPC service with audio and phoneme timings."""

from __future__ import annotations

import json
import shutil
import wave

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from avatar_devtools import cli
from avatar_tts.train import main as train_main
from avatar_tts.training.dataset import DatasetError, load_dataset, split
from tests.support.espeak_dataset import CROATIAN_SENTENCES, write_espeak_dataset
from tests.support.services import in_process_server

CROATIAN = "Dobar dan, kako ste danas?"


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    return write_espeak_dataset(tmp_path_factory.mktemp("dataset"), CROATIAN_SENTENCES)


def test_the_dataset_is_read_checked_and_normalised(dataset_root):
    dataset = load_dataset(dataset_root, "hr")
    assert len(dataset.utterances) == 12 and dataset.sample_rate == 22050
    texts = {u.identifier: u.text for u in dataset.utterances}
    assert texts["utt003"] == "Imam dvadeset jednu kunu u džepu."
    assert texts["utt011"] == "Sutra idemo na izlet u osam i trideset."
    assert {"č", "ć", "đ", "š", "ž"} <= set(dataset.letters())
    train, evaluation = split(dataset, 2)
    assert len(train.utterances) == 10 and len(evaluation.utterances) == 2
    assert not {u.identifier for u in train.utterances} & {
        u.identifier for u in evaluation.utterances
    }


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: (root / "metadata.csv").unlink(), "metadata.csv not found"),
        (lambda root: (root / "wavs" / "utt002.wav").unlink(), "utt002.wav not found"),
        (lambda root: (root / "metadata.csv").write_text("no-pipes-here\n"), "expected 'id|text'"),
        (lambda root: (root / "wavs" / "utt001.wav").write_bytes(b"RIFF junk"), "not a PCM WAV"),
        (lambda root: _resample_header(root / "wavs" / "utt000.wav", 16000), "mix sample rates"),
    ],
)
def test_unusable_datasets_are_refused_clearly(dataset_root, tmp_path, damage, message):
    root = shutil.copytree(dataset_root, tmp_path / "copy")
    damage(root)
    with pytest.raises(DatasetError, match=message):
        load_dataset(root, "hr")
    assert train_main([str(root), str(tmp_path / "out"), "--language", "hr"]) == 2


def _resample_header(path, rate: int) -> None:
    with wave.open(str(path), "rb") as reader:
        frames = reader.readframes(reader.getnframes())
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames)


@pytest.mark.slow
@pytest.mark.coqui
async def test_train_resume_and_serve_a_croatian_glowtts(dataset_root, tmp_path, capsys):
    pytest.importorskip("TTS", reason="coqui-tts (the 'coqui' extra) is not installed")
    output = tmp_path / "voice"
    common = ["--language", "hr", "--size", "tiny", "--batch-size", "4", "--workers", "0"]
    common += ["--eval-count", "0", "--print-step", "1", "--test-delay-epochs", "1000"]
    assert train_main([str(dataset_root), str(output), "--epochs", "1", *common]) == 0
    assert "12 utterances" in capsys.readouterr().out
    (run_folder,) = [path for path in output.iterdir() if path.name.startswith("glowtts-")]
    # coqui's progress lines, printed as it trains and kept in the run's log.
    assert "GLOBAL_STEP: 1" in (run_folder / "trainer_0_log.txt").read_text()
    first_steps = _exported_step(output)

    # Resume the run for another epoch through the CLI: the step count carries on.
    resumed = ["train-tts", str(dataset_root), str(output), "--epochs", "2", *common]
    assert cli.main([*resumed, "--continue-path", str(run_folder)]) == 0
    assert "Continuing from checkpoint_" in (run_folder / "trainer_0_log.txt").read_text()
    assert _exported_step(output) > first_steps

    config = json.loads((output / "config.json").read_text())
    assert (config["use_phonemes"], config["phoneme_language"]) == (True, "hr")
    await _serve_and_speak(output)


def _exported_step(output) -> int:
    import torch

    return int(torch.load(output / "model.pth", map_location="cpu", weights_only=False)["step"])


async def _serve_and_speak(output) -> None:
    environment = {
        "AVATAR_TTS_COQUI_VOICES": f"trained={output / 'model.pth'}|{output / 'config.json'}",
        "AVATAR_TTS_COQUI_DEVICE": "cpu",
        "AVATAR_TTS_DEFAULT_VOICE": "trained",
    }
    async with (
        in_process_server("tts", environment) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="avatar.tts.v1.TtsService/trained")
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        voices = {v.name: v for v in (await stub.ListVoices(tts_pb2.ListVoicesRequest())).voices}
        trained = voices["trained"]
        assert trained.available and trained.has_timings, trained.error
        assert trained.language == "hr"  # from the trained config's phoneme language
        request = tts_pb2.SynthesizeRequest(text=CROATIAN)
        responses = [response async for response in stub.Synthesize(request)]
    assert responses[0].started.voice == "trained"
    pcm = b"".join(r.audio.pcm for r in responses if r.HasField("audio"))
    duration = len(pcm) / 2 / responses[0].started.sample_rate
    phonemes = [p for r in responses if r.HasField("timings") for p in r.timings.phonemes]
    words = [w.text for r in responses if r.HasField("timings") for w in r.timings.words]
    assert duration > 0.3 and abs(phonemes[-1].end_seconds - duration) < 0.05
    assert words == ["Dobar", "dan", "kako", "ste", "danas"]
    symbols = {p.symbol for p in phonemes}
    assert "r" in symbols and "ɹ" not in symbols  # espeak-ng's Croatian phonemes, trilled r
