"""Speech from the tts service, streamed to the asr service: voice activity and transcripts."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.asr.v1 import asr_pb2
from tests.asr.speech import (
    SENTENCES,
    events,
    render,
    requests,
    silence,
    transcribe,
    word_error_rate,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

LEAD_SECONDS = 1.0
TAIL_SECONDS = 1.0
# Voice activity decides per 32 ms window and needs two of them to call it speech; the
# voice's own soft onsets and fades sit below the loudness the test calls voiced.
START_TOLERANCE = 0.15
END_TOLERANCE = 0.25


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sentence(tts):
    return await render(tts, SENTENCES[0])


def _padded(speech, lead=LEAD_SECONDS, tail=TAIL_SECONDS) -> np.ndarray:
    rate = speech.sample_rate
    return np.concatenate([silence(lead, rate), speech.samples, silence(tail, rate)])


def _metric(server, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in server.registry.collect()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def test_health_is_serving_after_warm_up(asr_server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{asr_server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "avatar.asr.v1.AsrService"):
            response = await stub.Check(health_pb2.HealthCheckRequest(service=name))
            assert response.status == health_pb2.HealthCheckResponse.SERVING, name
    assert _metric(asr_server, "avatar_model_load_seconds", model="whisper_tiny.en") > 0


async def test_list_models_names_tiny_en_and_the_defaults(asr):
    answer = await asr.ListModels(asr_pb2.ListModelsRequest())
    (model,) = answer.models
    assert (model.name, list(model.languages), model.multilingual) == ("tiny.en", ["en"], False)
    assert answer.default_language == "en" and answer.end_of_speech_ms == 300


async def test_a_sentence_between_silences_is_found_and_transcribed(asr, asr_server, sentence):
    finals_before = _metric(asr_server, "avatar_asr_utterances_total", reason="silence")
    latency_before = _metric(asr_server, "avatar_asr_end_of_speech_to_final_seconds_count")
    early_before = _metric(asr_server, "avatar_asr_early_finals_total")
    responses = await transcribe(asr, requests(_padded(sentence), sentence.sample_rate))
    assert [r.sequence for r in responses] == list(range(len(responses)))
    kinds = [r.WhichOneof("event") for r in responses]
    assert kinds == ["started", "speech_started", "speech_ended", "final", "end"]
    started, ended = responses[1].speech_started, responses[2].speech_ended
    voiced_start = LEAD_SECONDS + sentence.voiced_start
    voiced_end = LEAD_SECONDS + sentence.voiced_end
    assert started.time_seconds == pytest.approx(voiced_start, abs=START_TOLERANCE)
    assert ended.time_seconds == pytest.approx(voiced_end, abs=END_TOLERANCE)
    assert ended.reason == asr_pb2.SPEECH_END_REASON_SILENCE
    final = responses[3].final
    assert word_error_rate(SENTENCES[0], final.text) <= 0.1, final.text
    assert (final.start_seconds, final.end_seconds) == (started.time_seconds, ended.time_seconds)
    starts = [word.start_seconds for word in final.words]
    assert starts == sorted(starts) and len(final.words) == len(final.text.split())
    for word in final.words:
        assert final.start_seconds <= word.start_seconds <= word.end_seconds <= final.end_seconds
    assert 0 < final.processing_seconds < 30
    end = responses[-1].end
    assert end.utterances == 1
    assert end.audio_seconds == pytest.approx(len(_padded(sentence)) / sentence.sample_rate)
    assert end.speech_seconds == pytest.approx(ended.time_seconds - started.time_seconds)
    assert _metric(asr_server, "avatar_asr_utterances_total", reason="silence") == finals_before + 1
    latency_count = _metric(asr_server, "avatar_asr_end_of_speech_to_final_seconds_count")
    assert latency_count == latency_before + 1
    # Its final came from the transcription made as the silence began: one transcription.
    assert _metric(asr_server, "avatar_asr_early_finals_total") == early_before + 1


async def test_two_utterances_separated_by_silence_give_two_finals_in_order(asr, tts):
    first, second = await render(tts, SENTENCES[1]), await render(tts, SENTENCES[2])
    rate = first.sample_rate
    audio = np.concatenate(
        [silence(0.5, rate), first.samples, silence(1.5, rate), second.samples, silence(1, rate)]
    )
    responses = await transcribe(asr, requests(audio, rate))
    finals = events(responses, "final")
    assert [final.utterance for final in finals] == [0, 1]
    for text, final in zip(SENTENCES[1:], finals, strict=True):
        assert word_error_rate(text, final.text) <= 0.1, final.text
    assert finals[0].end_seconds < finals[1].start_seconds
    ended = {e.utterance: i for i, r in enumerate(responses) if (e := r.speech_ended).time_seconds}
    positions = {r.final.utterance: i for i, r in enumerate(responses) if r.HasField("final")}
    assert all(ended[utterance] < positions[utterance] for utterance in (0, 1))
    assert responses[-1].end.utterances == 2


@pytest.mark.parametrize("rate", [22050, 24000, 48000, 8000])
async def test_other_sample_rates_are_resampled(asr, tts, sentence, rate):
    speech = sentence if rate == sentence.sample_rate else await render(tts, SENTENCES[0], rate)
    responses = await transcribe(asr, requests(_padded(speech), rate))
    assert responses[0].started.sample_rate == rate
    (started,) = events(responses, "speech_started")
    assert started.time_seconds == pytest.approx(
        LEAD_SECONDS + speech.voiced_start, abs=START_TOLERANCE
    )
    (final,) = events(responses, "final")
    assert word_error_rate(SENTENCES[0], final.text) <= 0.1, (rate, final.text)


async def _paced(stream):
    """The requests at the pace a microphone records them."""
    for request in stream:
        if request.HasField("audio"):
            await asyncio.sleep(len(request.audio.pcm) / 2 / request.audio.sample_rate)
        yield request


async def test_interim_results_give_partials_before_the_final(asr, tts):
    # Paced as it is spoken: a client that sends faster than real time has its speech end
    # before a partial could be made, and partials of ended speech are not sent.
    speech = await render(tts, f"{SENTENCES[1]} {SENTENCES[2]}")
    # One utterance: the pause between the sentences is longer than the default silence.
    stream = requests(
        _padded(speech, tail=1.0), speech.sample_rate, interim_results=True, end_of_speech_ms=800
    )
    responses = [response async for response in asr.Transcribe(_paced(stream), timeout=120)]
    kinds = [r.WhichOneof("event") for r in responses]
    assert responses[0].started.interim_results
    assert "partial" in kinds
    # Partials belong to speech still going on: all of them before its speech_ended.
    assert max(i for i, k in enumerate(kinds) if k == "partial") < kinds.index("speech_ended")
    for partial in events(responses, "partial"):
        assert partial.utterance == 0 and partial.end_seconds > partial.start_seconds


async def test_a_longer_end_of_speech_silence_joins_what_a_short_one_splits(asr, tts):
    first, second = await render(tts, SENTENCES[1]), await render(tts, SENTENCES[2])
    rate = first.sample_rate
    audio = np.concatenate([first.samples, silence(0.8, rate), second.samples, silence(2, rate)])
    joined = await transcribe(asr, requests(audio, rate, end_of_speech_ms=1500))
    assert joined[0].started.end_of_speech_ms == 1500
    (final,) = events(joined, "final")
    assert word_error_rate(f"{SENTENCES[1]} {SENTENCES[2]}", final.text) <= 0.1, final.text


async def test_speech_going_on_at_the_end_of_input_ends_there(asr, sentence):
    rate = sentence.sample_rate
    cut = sentence.samples[: round((sentence.voiced_start + 1.0) * rate)]
    audio = np.concatenate([silence(0.5, rate), cut])
    responses = await transcribe(asr, requests(audio, rate))
    (ended,) = events(responses, "speech_ended")
    assert ended.reason == asr_pb2.SPEECH_END_REASON_END_OF_INPUT
    assert ended.time_seconds == pytest.approx(len(audio) / rate, abs=0.05)
    (final,) = events(responses, "final")
    assert final.text.lower().startswith("glue")


async def test_audio_sent_as_one_large_chunk_is_read_like_small_ones(asr, sentence):
    padded = _padded(sentence)
    responses = await transcribe(asr, requests(padded, sentence.sample_rate, chunk_seconds=60))
    (final,) = events(responses, "final")
    assert word_error_rate(SENTENCES[0], final.text) <= 0.1
