"""Coqui voices configured from the environment, served by a real in-process server."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

pytest.importorskip("TTS", reason="coqui-tts (the 'coqui' extra) is not installed")

from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from avatar_core.server import running_server
from avatar_devtools.tiny_glowtts import build_tiny_glowtts, install_as_downloaded
from avatar_tts.config import TtsConfig
from avatar_tts.servicer import create_service
from tests.support.network import metric_value, scrape
from tests.support.tiny_yourtts import build_tiny_yourtts
from tests.tts.test_cloning import encoded_voice

pytestmark = pytest.mark.coqui
MAX_SAMPLE_BYTES = 200_000


@pytest.fixture
async def server(tmp_path):
    local = build_tiny_glowtts(tmp_path / "mine", extra_letters="ČčĆćĐđŠšŽž")
    install_as_downloaded(tmp_path / "models")
    cloning = build_tiny_yourtts(tmp_path / "clone")
    config = TtsConfig.from_env(
        {
            "AVATAR_TTS_HOST": "127.0.0.1",
            "AVATAR_TTS_PORT": "0",
            "AVATAR_TTS_METRICS_PORT": "0",
            "AVATAR_TTS_MAX_SPEAKER_SAMPLE_BYTES": str(MAX_SAMPLE_BYTES),
            "AVATAR_TTS_COQUI_DEVICE": "cpu",
            "AVATAR_TTS_COQUI_MODELS_DIR": str(tmp_path / "models"),
            "AVATAR_TTS_COQUI_VOICES": (
                f"glow-tts; mine={local.checkpoint_path}|{local.config_path}|language=hr;"
                f"clone={cloning.checkpoint_path}|{cloning.config_path}"
            ),
            "AVATAR_TTS_DEFAULT_VOICE": "glow-tts",
        }
    )
    async with running_server(
        config.server, lambda registry: create_service(config, registry)
    ) as running:
        yield running


@pytest.fixture
async def stub(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield tts_pb2_grpc.TtsServiceStub(channel)


async def _speak(stub, **fields) -> list[tts_pb2.SynthesizeResponse]:
    return [r async for r in stub.Synthesize(tts_pb2.SynthesizeRequest(**fields))]


async def test_configured_coqui_voices_are_listed_and_speak_with_timings(stub):
    listed = await stub.ListVoices(tts_pb2.ListVoicesRequest())
    voices = {voice.name: voice for voice in listed.voices}
    assert listed.default_voice == "glow-tts"
    for name in ("glow-tts", "mine"):
        assert voices[name].available and voices[name].engine == "coqui"
        assert voices[name].has_timings and voices[name].sample_rate == 22050
    assert voices["mine"].language == "hr" and voices["glow-tts"].language == "en-US"

    responses = [r async for r in stub.Synthesize(tts_pb2.SynthesizeRequest(text="Dobar dan."))]
    assert responses[0].started.voice == "glow-tts" and responses[0].started.has_timings
    pcm = b"".join(r.audio.pcm for r in responses if r.HasField("audio"))
    duration = len(pcm) / 2 / 22050
    phonemes = [p for r in responses if r.HasField("timings") for p in r.timings.phonemes]
    assert abs(phonemes[-1].end_seconds - duration) < 0.05
    assert responses[-1].end.total_samples == len(pcm) // 2


async def test_character_voice_reads_croatian_letters_as_croatian_sounds(stub):
    request = tts_pb2.SynthesizeRequest(text="Čaša šećera.", voice="mine", sample_rate=16000)
    responses = [r async for r in stub.Synthesize(request)]
    symbols = [p.symbol for r in responses if r.HasField("timings") for p in r.timings.phonemes]
    assert {"tʃ", "ʃ", "tɕ", "ts"} & set(symbols) == {"tʃ", "ʃ", "tɕ"}
    pcm = np.frombuffer(b"".join(r.audio.pcm for r in responses if r.HasField("audio")), "<i2")
    assert responses[0].started.sample_rate == 16000 and pcm.size > 0


async def test_cloning_voice_speaks_with_the_sample_and_rejects_requests_without_one(stub):
    voices = {v.name: v for v in (await stub.ListVoices(tts_pb2.ListVoicesRequest())).voices}
    assert voices["clone"].supports_cloning and not voices["glow-tts"].supports_cloning
    request = tts_pb2.SynthesizeRequest(
        text="Hello there.", voice="clone", speaker_sample=encoded_voice(140, kind="OGG")
    )
    responses = [r async for r in stub.Synthesize(request)]
    assert responses[0].started.sample_rate == 16000 and responses[-1].end.total_samples > 0
    for sample, message in [(b"", "send a speaker_sample"), (b"garbage", "not WAV")]:
        request = tts_pb2.SynthesizeRequest(text="Hi.", voice="clone", speaker_sample=sample)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [r async for r in stub.Synthesize(request)]
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in caught.value.details()
    request = tts_pb2.SynthesizeRequest(text="Hi.", speaker_sample=encoded_voice(140))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [r async for r in stub.Synthesize(request)]
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "cloning voices: clone" in caught.value.details()


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        (b"ID3 but not really an mp3", "not WAV, MP3, OGG or FLAC audio"),
        (encoded_voice(140, seconds=2.0, kind="MP3"), "lasts 2.0 s; send 3-30 s of speech"),
        (encoded_voice(140, seconds=31.0, rate=8000, kind="OGG"), "lasts 31.0 s; send 3-30 s"),
        (bytes(MAX_SAMPLE_BYTES + 1), f"the limit is {MAX_SAMPLE_BYTES}"),
    ],
)
async def test_bad_speaker_samples_get_invalid_argument(stub, sample, message):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _speak(stub, text="Hello.", voice="clone", speaker_sample=sample)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()
    # The voice still works with a good sample afterwards.
    good = await _speak(stub, text="Hello.", voice="clone", speaker_sample=encoded_voice(150))
    assert good[-1].end.total_samples > 0


async def test_a_repeated_speaker_sample_hits_the_embedding_cache(server, stub):
    sample = encoded_voice(210, kind="OGG")
    first = await _speak(stub, text="Good morning.", voice="clone", speaker_sample=sample)
    again = await _speak(stub, text="Good morning.", voice="clone", speaker_sample=sample)
    metrics = scrape(server.metrics_port)
    lookups = {
        result: metric_value(
            metrics, "avatar_cache_lookups_total", cache="speaker_embeddings", result=result
        )
        for result in ("hit", "miss")
    }
    assert lookups == {"hit": 1, "miss": 1}
    pcm = [
        b"".join(r.audio.pcm for r in responses if r.HasField("audio"))
        for responses in (first, again)
    ]
    assert pcm[0] == pcm[1] and len(pcm[0]) > 0
