"""The tts stage alone: each sentence's speech, in order, handed on before synthesis ends."""

from __future__ import annotations

import grpc
import pytest

from avatar.common.v1 import media_pb2
from avatar_gateway.clients import StageError
from avatar_gateway.stages import TtsStage
from avatar_gateway.stages.events import SentenceText, SpeechStarted
from tests.support.stage_harness import FakeTts, StageHarness, drain, samples_of, wait_for

SENTENCES = [SentenceText(0, "Hello there.", False), SentenceText(1, "How are you?", False)]


async def test_each_sentence_is_passed_on_in_order_with_its_audio_and_timings():
    harness = StageHarness(plan_changes={"voice": "heart"})
    outbox = harness.sink("speech")
    await harness.run(TtsStage(harness.context, harness.source(SENTENCES), outbox), outbox)

    assert [speech.sentence for speech in outbox.items] == SENTENCES
    for speech in outbox.items:
        parts = drain(speech)
        assert parts[0] == SpeechStarted(sample_rate=16_000)
        audio = [part for part in parts if isinstance(part, media_pb2.AudioChunk)]
        assert sum(len(chunk.pcm) // 2 for chunk in audio) == samples_of(speech.sentence.text)
        assert isinstance(parts[-1], media_pb2.TimingTrack)
        assert speech.synthesized.is_set()
        assert len(speech.timings.phonemes) == len(speech.sentence.text.split())
    assert [request.voice for request in harness.tts.requests] == ["heart", "heart"]
    assert harness.tts.timeouts == [30.0, 30.0]
    assert list(harness.measurements.stage_seconds) == ["tts"]


async def test_later_sentences_ask_for_the_first_sentences_sample_rate():
    harness = StageHarness(tts=FakeTts(sample_rate=22_050))
    outbox = harness.sink("speech")
    await harness.run(TtsStage(harness.context, harness.source(SENTENCES), outbox), outbox)
    assert [request.sample_rate for request in harness.tts.requests] == [0, 22_050]


async def test_a_sentence_is_handed_on_as_soon_as_its_speech_starts():
    # The voice stalls after started and two chunks: the animator can already begin.
    tts = FakeTts(hold_after=3)
    harness = StageHarness(tts=tts)
    outbox = harness.sink("speech", maxsize=1)
    run = await harness.start(TtsStage(harness.context, harness.source(SENTENCES), outbox), outbox)
    await wait_for(tts.held)
    [speech] = outbox.items
    assert not speech.synthesized.is_set()
    assert isinstance(speech.parts.get_nowait(), SpeechStarted)
    assert len(speech.parts.get_nowait().pcm) == 2 * 1600
    await run.cancel()


async def test_a_failing_voice_raises_the_tts_stage_error():
    tts = FakeTts(fail_after=2, code=grpc.StatusCode.INVALID_ARGUMENT)
    harness = StageHarness(tts=tts)
    outbox = harness.sink("speech")
    with pytest.raises(StageError) as caught:
        await harness.run(TtsStage(harness.context, harness.source(SENTENCES), outbox), outbox)
    assert (caught.value.stage, caught.value.code) == ("tts", grpc.StatusCode.INVALID_ARGUMENT)
    assert not outbox.ended
    assert len(tts.requests) == 1


async def test_cancel_stops_the_stage_and_its_tts_call():
    tts = FakeTts(hold_after=1)
    harness = StageHarness(tts=tts)
    source = harness.source(SENTENCES)
    outbox = harness.sink("speech")
    run = await harness.start(TtsStage(harness.context, source, outbox), outbox)
    await wait_for(tts.held)
    await run.cancel()
    assert run.task.cancelled()
    assert tts.cancelled == 1
    assert source.taken == SENTENCES[:1]
    assert not outbox.ended
