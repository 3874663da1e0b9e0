"""The first sentence's quiet lead-in is cut short; its audio and timings move together."""

from __future__ import annotations

import numpy as np

from avatar.common.v1 import media_pb2
from avatar_gateway.stages import TtsStage
from avatar_gateway.stages.events import SentenceText, SpeechStarted
from avatar_gateway.stages.lead_in import (
    AUDIBLE_AMPLITUDE,
    KEPT_SECONDS,
    LONGEST_LEAD_IN_SECONDS,
    LeadInTrimmer,
)
from tests.support.stage_harness import (
    RATE,
    FakeTts,
    StageHarness,
    drain,
    fake_voice,
    samples_of,
)

KEPT = round(KEPT_SECONDS * RATE)


def _chunks(pcm: bytes, size: int) -> list[media_pb2.AudioChunk]:
    return [
        media_pb2.AudioChunk(pcm=pcm[2 * at : 2 * (at + size)], sample_rate=RATE, sample_offset=at)
        for at in range(0, len(pcm) // 2, size)
    ]


def _samples(parts) -> np.ndarray:
    audio = [part for part in parts if isinstance(part, media_pb2.AudioChunk)]
    offset = 0
    for chunk in audio:  # gapless from 0 after the cut
        assert chunk.sample_offset == offset
        offset += len(chunk.pcm) // 2
    return np.frombuffer(b"".join(chunk.pcm for chunk in audio), dtype="<i2")


def _trim(parts) -> tuple[LeadInTrimmer, list]:
    trimmer = LeadInTrimmer(RATE)
    out = []
    for part in parts:
        out += trimmer.add(part)
    return trimmer, out + trimmer.finish()


def test_the_quiet_before_the_first_sound_is_cut_to_one_frame_and_timings_follow():
    lead_in, total = 3000, 8000  # 187.5 ms of quiet at 16 kHz
    pcm = fake_voice(0, total, lead_in)
    timings = media_pb2.TimingTrack(
        phonemes=[
            media_pb2.Phoneme(symbol="_", start_seconds=0.0, end_seconds=0.1),
            media_pb2.Phoneme(symbol="h", start_seconds=0.1, end_seconds=0.25),
            media_pb2.Phoneme(symbol="aɪ", start_seconds=0.25, end_seconds=0.5, stressed=True),
        ],
        words=[media_pb2.Word(text="hi", start_seconds=0.1, end_seconds=0.5)],
    )
    trimmer, parts = _trim([*_chunks(pcm, 1000), timings])

    cut = lead_in - KEPT
    assert trimmer.cut_samples == cut
    samples = _samples(parts)
    assert len(samples) == total - cut
    loud = np.flatnonzero(np.abs(samples) >= AUDIBLE_AMPLITUDE)
    assert loud[0] == KEPT  # the first sound, one frame in
    assert np.array_equal(samples, np.frombuffer(pcm, dtype="<i2")[cut:])
    [moved] = [part for part in parts if isinstance(part, media_pb2.TimingTrack)]
    shift = cut / RATE
    assert [p.symbol for p in moved.phonemes] == ["h", "aɪ"]  # the pause ended before the cut
    assert moved.phonemes[0].start_seconds == 0.0
    assert abs(moved.phonemes[0].end_seconds - (0.25 - shift)) < 1e-9
    assert abs(moved.phonemes[1].start_seconds - (0.25 - shift)) < 1e-9
    assert moved.phonemes[1].stressed
    assert moved.words[0].text == "hi"
    assert abs(moved.words[0].end_seconds - (0.5 - shift)) < 1e-9


def test_nothing_is_passed_on_before_the_first_sound_and_everything_after_at_once():
    trimmer = LeadInTrimmer(RATE)
    quiet, sound = _chunks(fake_voice(0, 2000, 1000), 1000)
    assert trimmer.add(quiet) == []
    released = trimmer.add(sound)
    assert [len(part.pcm) // 2 for part in released] == [KEPT, 1000]
    later = media_pb2.AudioChunk(pcm=fake_voice(2000, 500), sample_rate=RATE, sample_offset=2000)
    [moved] = trimmer.add(later)
    assert moved.sample_offset == 2000 - (1000 - KEPT)


def test_speech_that_starts_with_its_sound_is_passed_on_unchanged():
    chunks = _chunks(fake_voice(0, 4000), 1000)
    trimmer, parts = _trim(chunks)
    assert trimmer.cut_samples == 0
    assert parts == chunks


def test_silence_and_long_pauses_are_not_lead_ins():
    silent = _chunks(bytes(2 * 4000), 1000)
    trimmer, parts = _trim(silent)
    assert trimmer.cut_samples == 0
    assert parts == silent
    longest = round(LONGEST_LEAD_IN_SECONDS * RATE)
    paused = _chunks(fake_voice(0, longest + 4000, longest + 2000), 1000)
    trimmer = LeadInTrimmer(RATE)
    released = [part for chunk in paused for part in trimmer.add(chunk)]
    assert trimmer.cut_samples == 0
    assert released == paused  # passed on once the quiet outlasted a lead-in


async def test_the_tts_stage_cuts_the_first_sentences_lead_in_only():
    sentences = [SentenceText(0, "Hello there.", False), SentenceText(1, "How are you?", False)]
    lead_in = 2400
    harness = StageHarness(tts=FakeTts(lead_in_samples=lead_in))
    outbox = harness.sink("speech")
    await harness.run(TtsStage(harness.context, harness.source(sentences), outbox), outbox)

    first, second = (drain(speech) for speech in outbox.items)
    assert first[0] == SpeechStarted(sample_rate=RATE)
    cut = lead_in - KEPT
    assert len(_samples(first)) == samples_of("Hello there.") - cut
    assert len(_samples(second)) == samples_of("How are you?")  # a pause between sentences
    track = outbox.items[0].timings
    assert abs(track.phonemes[-1].end_seconds - len(_samples(first)) / RATE) < 1e-6
