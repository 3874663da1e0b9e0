"""The animator stage alone: sentences in order on one timeline, audio first, padded frames."""

from __future__ import annotations

import grpc
import pytest

from avatar.common.v1 import media_pb2
from avatar_gateway.clients import StageError
from avatar_gateway.stages import AnimatorStage
from avatar_gateway.stages.events import END, SentenceSpeech, SentenceText, SpeechStarted
from tests.support.stage_harness import (
    RATE,
    FakeAnimator,
    StageHarness,
    fake_voice,
    sentence_speech,
    wait_for,
)

# 0.5 s is 12.5 frames at 25 fps: padded to 13 frames (8320 samples); 0.25 s to 7 (4480).
SPEECH = [("Hello there.", (4000, 4000)), ("Bye now.", (1600, 2400))]
PADDED = [8320, 4480]


def _speech() -> list[SentenceSpeech]:
    return [sentence_speech(i, text, chunks=chunks) for i, (text, chunks) in enumerate(SPEECH)]


async def _run_low_quality(harness: StageHarness):
    to_client = harness.sink("client")
    stage = AnimatorStage(harness.context, harness.source(_speech()), to_client, to_client)
    await harness.run(stage, to_client)
    return to_client.items


def _kinds(events) -> list[str]:
    return [event.WhichOneof("event") for event in events]


async def test_sentences_are_padded_to_whole_frames_on_one_timeline():
    harness = StageHarness()
    events = await _run_low_quality(harness)

    sentences = [e.sentence for e in events if e.HasField("sentence")]
    assert [(s.index, s.text, s.start_seconds) for s in sentences] == [
        (0, "Hello there.", 0.0),
        (1, "Bye now.", PADDED[0] / RATE),
    ]
    audio = [e.audio for e in events if e.HasField("audio")]
    offsets = [chunk.sample_offset for chunk in audio]
    ends = [chunk.sample_offset + len(chunk.pcm) // 2 for chunk in audio]
    assert offsets == [0, *ends[:-1]]  # continuous, no gap or overlap
    assert ends[-1] == sum(PADDED)
    frames = [f for e in events if e.HasField("frames") for f in e.frames.frames]
    assert len(frames) * RATE / 25 == sum(PADDED)
    assert harness.measurements.samples == sum(PADDED)
    assert harness.measurements.sentences == 2
    assert harness.measurements.spoken_text == ["Hello there.", "Bye now."]
    assert harness.measurements.sample_rate == RATE


async def test_frames_are_stamped_with_indices_on_the_gateways_timeline():
    harness = StageHarness()
    events = await _run_low_quality(harness)
    frames = [f for e in events if e.HasField("frames") for f in e.frames.frames]
    assert [f.index for f in frames] == list(range(13 + 7))
    configs = harness.animator.configs
    assert [config.start_frame for config in configs] == [0, 13]
    assert {(c.content_hash, c.image, c.fps, c.sample_rate) for c in configs} == {
        ("c0ffee", b"photo bytes", 25.0, RATE)
    }
    assert {(c.encoding, c.jpeg_quality) for c in configs} == {(media_pb2.FRAME_ENCODING_JPEG, 85)}


async def test_audio_reaches_the_client_before_the_animator_and_before_the_frames():
    harness = StageHarness()
    events = await _run_low_quality(harness)
    for sentence in (0, 1):
        kinds = _kinds(events[_sentence_start(events, sentence) :])
        assert kinds[0] == "sentence"
        assert kinds.index("audio") < kinds.index("frames")
    # Each chunk goes to the client first, then to the animator; padding only to the client.
    to_client = [
        (i, len(item.audio.pcm))
        for i, (who, item) in enumerate(harness.journal)
        if who == "client" and item is not END and item.HasField("audio")
    ]
    to_animator = [
        (i, len(item.pcm))
        for i, (who, item) in enumerate(harness.journal)
        if who == "animator" and isinstance(item, media_pb2.AudioChunk)
    ]
    padding = {
        2 * (padded - sum(chunks)) for padded, (_, chunks) in zip(PADDED, SPEECH, strict=True)
    }
    speech = [(i, size) for i, size in to_client if size not in padding]
    assert len(speech) == len(to_animator) == 4
    for (client, size), (animator, animator_size) in zip(speech, to_animator, strict=True):
        assert size == animator_size
        assert client < animator


def _sentence_start(events, index: int) -> int:
    return next(
        i for i, e in enumerate(events) if e.HasField("sentence") and e.sentence.index == index
    )


async def test_a_synthesised_sentence_carries_its_timings_and_duration():
    harness = StageHarness()
    events = await _run_low_quality(harness)
    first = events[0].sentence
    assert len(first.timings.phonemes) == 2
    assert first.duration_seconds == pytest.approx(0.5)


async def test_high_quality_sends_frame_batches_to_the_enhancer_and_media_to_the_client():
    harness = StageHarness(
        plan_changes={"high_quality": True, "frame_encoding": media_pb2.FRAME_ENCODING_RGB24}
    )
    to_client, to_enhancer = harness.sink("client"), harness.sink("enhancer")
    stage = AnimatorStage(harness.context, harness.source(_speech()), to_client, to_enhancer)
    await harness.run(stage, to_enhancer)
    assert set(_kinds(to_client.items)) == {"sentence", "audio"}
    assert all(isinstance(batch, media_pb2.FrameBatch) for batch in to_enhancer.items)
    indices = [f.index for batch in to_enhancer.items for f in batch.frames]
    assert indices == list(range(20))
    # RGB24 batches would be too big to send on: high quality animates as JPEG.
    assert {(c.encoding, c.jpeg_quality) for c in harness.animator.configs} == {
        (media_pb2.FRAME_ENCODING_JPEG, 90)
    }


async def test_a_refused_config_fails_the_stage_before_any_audio_is_sent():
    harness = StageHarness(animator=FakeAnimator(refuse=True))
    to_client = harness.sink("client")
    stage = AnimatorStage(harness.context, harness.source(_speech()), to_client, to_client)
    with pytest.raises(StageError) as caught:
        await harness.run(stage, to_client)
    assert (caught.value.stage, caught.value.code) == (
        "animator",
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert [type(request) for request in harness.animator.requests] == [
        type(harness.animator.configs[0])
    ]
    assert _kinds(to_client.items) == ["sentence"]


async def test_an_animator_failing_mid_stream_raises_the_animator_stage_error():
    harness = StageHarness(animator=FakeAnimator(fail_after=2))
    to_client = harness.sink("client")
    stage = AnimatorStage(harness.context, harness.source(_speech()), to_client, to_client)
    with pytest.raises(StageError) as caught:
        await harness.run(stage, to_client)
    assert caught.value.stage == "animator"
    assert not to_client.ended
    assert harness.measurements.sentences == 0


async def test_speech_that_does_not_start_fails_the_stage():
    harness = StageHarness()
    speech = SentenceSpeech(SentenceText(0, "Hello.", False))
    speech.parts.put_nowait(media_pb2.AudioChunk(pcm=bytes(640), sample_rate=RATE))
    to_client = harness.sink("client")
    stage = AnimatorStage(harness.context, harness.source([speech]), to_client, to_client)
    with pytest.raises(RuntimeError, match="sentence 0 did not start"):
        await harness.run(stage, to_client)
    assert harness.animator.calls == 0


async def test_cancel_stops_the_stage_and_its_animator_call():
    animator = FakeAnimator(hold_after=1)
    harness = StageHarness(animator=animator)
    source = harness.source(_speech())
    to_client = harness.sink("client")
    run = await harness.start(
        AnimatorStage(harness.context, source, to_client, to_client), to_client
    )
    await wait_for(animator.held)
    await run.cancel()
    assert run.task.cancelled()
    assert animator.cancelled == 1
    assert len(source.taken) == 1
    assert not to_client.ended


def _timed_speech(text: str, chunks: tuple[int, ...]) -> SentenceSpeech:
    """A sentence of a voice that times its speech: each chunk, then its timings."""
    speech = SentenceSpeech(SentenceText(index=0, text=text, from_llm=False))
    speech.parts.put_nowait(SpeechStarted(sample_rate=RATE, has_timings=True))
    offset = 0
    for samples in chunks:
        pcm = fake_voice(offset, samples)
        speech.parts.put_nowait(
            media_pb2.AudioChunk(pcm=pcm, sample_rate=RATE, sample_offset=offset)
        )
        start, offset = offset, offset + samples
        phoneme = media_pb2.Phoneme(
            symbol="a", start_seconds=start / RATE, end_seconds=offset / RATE
        )
        track = media_pb2.TimingTrack(phonemes=[phoneme])
        speech.timings.MergeFrom(track)
        speech.parts.put_nowait(track)
    speech.synthesized.set()
    speech.parts.put_nowait(END)
    return speech


@pytest.mark.parametrize("frame_batch", [0, 2])
async def test_the_animator_gets_each_chunks_timings_before_its_audio(frame_batch):
    chunks = (2400, 12000, 4800)
    harness = StageHarness(plan_changes={"frame_batch": frame_batch})
    to_client = harness.sink("client")
    source = harness.source([_timed_speech("Nice to meet you.", chunks)])
    await harness.run(AnimatorStage(harness.context, source, to_client, to_client), to_client)

    payload = [
        r
        for r in harness.animator.requests
        if isinstance(r, media_pb2.AudioChunk | media_pb2.TimingTrack)
    ]
    covered = 0.0  # seconds the timings sent so far reach
    sent = 0
    for item in payload:
        if isinstance(item, media_pb2.TimingTrack):
            covered = item.phonemes[-1].end_seconds
            continue
        assert item.sample_offset == sent
        sent += len(item.pcm) // 2
        assert sent / RATE <= covered + 1e-9  # its timings came first
        if frame_batch:  # a live session: a batch of frames' audio at a time
            assert len(item.pcm) // 2 <= frame_batch * RATE / harness.plan.fps
    assert sent == sum(chunks)
    assert harness.animator.configs[0].batch_size == frame_batch
    audio = b"".join(e.audio.pcm for e in to_client.items if e.HasField("audio"))
    assert audio[: 2 * sum(chunks)] == fake_voice(0, sum(chunks))  # the client's audio, whole
