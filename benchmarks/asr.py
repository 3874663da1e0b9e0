"""Speech in: the asr service's transcription speed and end of speech -> final transcript.

The default voice speaks Harvard sentences (public domain; the list the intelligibility
benchmark uses); one Transcribe stream carries them one after another with 1.2 s of
silence between, sent in 20 ms chunks at the pace they play, as a microphone would. For
each utterance it measures, at the client:

- end of speech -> final: from the moment the last voiced sample was sent to the final
  transcript's arrival (the configured end-of-speech silence, 300 ms by default, is part
  of it: the service cannot know speech ended before that silence has passed);
- detected -> final: from the ``speech_ended`` event to the final transcript (the
  transcription and its delivery);
- the real-time factor of the transcription (its processing time / the utterance);
- the word error rate over all sentences.

    python -m benchmarks.asr [--sentences 12] [--beam-size 2] [--end-of-speech-ms 300]
                             [--window-padding-seconds 10] [--no-early] [--stem asr]

The asr server runs in this process on a free port, configured through its environment
as deployed. Writes ``asr.json`` and ``asr.md`` to ``--output-dir`` (default
``benchmarks/results``). A benchmark, not a test: it plays its audio in real time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import grpc
import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avatar.asr.v1 import asr_pb2, asr_pb2_grpc
from avatar.common.v1 import media_pb2
from avatar_core.server import running_server
from avatar_devtools.units import UNITS
from benchmarks.intelligibility import SENTENCES, edit_distance, words_of
from benchmarks.reporting import (
    describe_machine,
    machine,
    markdown_table,
    percentiles,
    write_outputs,
)

CHUNK_SECONDS = 0.02
GAP_SECONDS = 1.2


def speak(sentences: list[str]) -> tuple[list[np.ndarray], int]:
    """Each sentence as int16 samples from the tts default voice, and their rate."""
    from avatar_tts.config import TtsConfig
    from avatar_tts.voices import build_registry

    registry = build_registry(TtsConfig.from_env({}))
    registry.load()
    info = registry.resolve("")
    spoken = []
    for sentence in sentences:
        chunks = list(registry.synthesize(sentence, info.name))
        spoken.append(np.concatenate([chunk.samples for chunk in chunks]).astype(np.int16))
    return spoken, info.sample_rate


def voiced_end(samples: np.ndarray) -> int:
    """Index just after the last sample louder than 5% of the peak."""
    level = np.abs(samples.astype(np.int32))
    return int(np.flatnonzero(level > 0.05 * level.max())[-1]) + 1


class PacedStream:
    """Sends one stream's audio at the pace it plays; remembers when each sample went.

    Args:
        audio: The whole stream, int16.
        sample_rate: Its rate.
        config: The stream's config.
    """

    def __init__(
        self, audio: np.ndarray, sample_rate: int, config: asr_pb2.TranscribeConfig
    ) -> None:
        self.audio, self.rate, self.config = audio, sample_rate, config
        self.sent_at: list[tuple[int, float]] = []  # (samples sent so far, when)

    async def requests(self):
        """config, the audio in real time, end."""
        yield asr_pb2.TranscribeRequest(config=self.config)
        step = round(CHUNK_SECONDS * self.rate)
        started = time.perf_counter()
        for offset in range(0, len(self.audio), step):
            due = started + offset / self.rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            chunk = self.audio[offset : offset + step]
            pcm = chunk.astype("<i2").tobytes()
            yield asr_pb2.TranscribeRequest(
                audio=media_pb2.AudioChunk(pcm=pcm, sample_rate=self.rate, sample_offset=offset)
            )
            self.sent_at.append((offset + len(chunk), time.perf_counter()))
        yield asr_pb2.TranscribeRequest(end=asr_pb2.TranscribeInputEnd())

    def time_sent(self, sample: int) -> float:
        """When the chunk holding ``sample`` left."""
        for sent, when in self.sent_at:
            if sent > sample:
                return when
        return self.sent_at[-1][1]


async def measure(args: argparse.Namespace, spoken: list[np.ndarray], rate: int) -> dict:
    """Streams the sentences to an in-process asr server; returns per-utterance figures."""
    gap = np.zeros(round(GAP_SECONDS * rate), dtype=np.int16)
    parts, ends = [gap], []
    for samples in spoken:
        start = sum(len(part) for part in parts)
        ends.append(start + voiced_end(samples))
        parts += [samples, gap]
    audio = np.concatenate(parts)
    unit = UNITS["asr"]
    config = unit.config_type().from_env(
        {
            "AVATAR_ASR_HOST": "127.0.0.1",
            "AVATAR_ASR_PORT": "0",
            "AVATAR_ASR_METRICS_PORT": "-1",
            "AVATAR_ASR_BEAM_SIZE": str(args.beam_size),
            "AVATAR_ASR_THREADS": str(args.threads),
            "AVATAR_ASR_WINDOW_PADDING_SECONDS": str(args.window_padding_seconds),
            "AVATAR_ASR_EARLY_TRANSCRIPTION": "false" if args.no_early else "true",
        }
    )
    create = unit.create_service()
    async with running_server(config.server, lambda registry: create(config, registry)) as server:
        stream = PacedStream(
            audio,
            rate,
            asr_pb2.TranscribeConfig(sample_rate=rate, end_of_speech_ms=args.end_of_speech_ms),
        )
        received = []
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = asr_pb2_grpc.AsrServiceStub(channel)
            async for response in stub.Transcribe(stream.requests(), timeout=600):
                received.append((time.perf_counter(), response))
    return _figures(received, stream, ends, rate)


def _figures(received, stream: PacedStream, ends: list[int], rate: int) -> dict:
    ended_at = {
        r.speech_ended.utterance: when for when, r in received if r.HasField("speech_ended")
    }
    finals = [(when, r.final) for when, r in received if r.HasField("final")]
    rows = []
    for when, final in finals:
        # The sentence whose voiced end lies inside (or closest to) this utterance.
        sentence = min(range(len(ends)), key=lambda i: abs(ends[i] / rate - final.end_seconds))
        rows.append(
            {
                "utterance": final.utterance,
                "sentence": sentence,
                "text": final.text,
                "seconds": final.end_seconds - final.start_seconds,
                "end_of_speech_to_final": when - stream.time_sent(ends[sentence]),
                "detected_to_final": when - ended_at[final.utterance],
                "transcription_seconds": final.processing_seconds,
                "real_time_factor": final.processing_seconds
                / max(1e-6, final.end_seconds - final.start_seconds),
            }
        )
    return {"utterances": rows}


def report(data: dict) -> str:
    """The Markdown summary: p50/p90 of each figure, the WER, the machine."""
    rows = data["utterances"]
    header = ["figure", "p50", "p90", "mean"]
    table = []
    for key, label, unit in (
        ("end_of_speech_to_final", "end of speech -> final", "ms"),
        ("detected_to_final", "speech_ended event -> final", "ms"),
        ("transcription_seconds", "transcription time", "ms"),
        ("real_time_factor", "real-time factor of transcription", ""),
    ):
        values = [row[key] for row in rows]
        stats = percentiles(values)
        scale, fmt = (1000, "{:.0f} ms") if unit == "ms" else (1, "{:.3f}")
        table.append(
            [
                label,
                fmt.format(scale * stats["p50"]),
                fmt.format(scale * stats["p90"]),
                fmt.format(scale * statistics.fmean(values)),
            ]
        )
    settings = data["settings"]
    return "\n".join(
        [
            f"asr over {len(rows)} utterances of the default voice (Harvard sentences, "
            f"{GAP_SECONDS} s apart, paced in real time in {CHUNK_SECONDS * 1000:.0f} ms chunks); "
            f"Whisper tiny.en int8, beam {settings['beam_size']}, {settings['threads']} threads, "
            f"each utterance read with {settings['window_padding_seconds']:g} s of silence after "
            "it (at most Whisper's 30 s window), "
            f"end of speech after {settings['end_of_speech_ms']} ms of silence, early "
            f"transcription {'on' if settings['early_transcription'] else 'off'}; word error rate "
            f"{data['word_error_rate']:.3f}; {describe_machine(data['machine'])}.",
            "",
            markdown_table(header, table),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.asr``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=12)
    parser.add_argument("--beam-size", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--end-of-speech-ms", type=int, default=300)
    parser.add_argument(
        "--window-padding-seconds",
        type=float,
        default=10.0,
        help="silence after each utterance in the window Whisper reads (30: its full window)",
    )
    parser.add_argument(
        "--no-early", action="store_true", help="transcribe only once the silence ends speech"
    )
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--stem", default="asr")
    args = parser.parse_args(argv)
    sentences = list(SENTENCES[: max(1, args.sentences)])
    spoken, rate = speak(sentences)
    data = asyncio.run(measure(args, spoken, rate))
    errors = words = 0
    for row in data["utterances"]:
        row["reference"] = sentences[row["sentence"]]
    for index, sentence in enumerate(sentences):
        heard = " ".join(r["text"] for r in data["utterances"] if r["sentence"] == index)
        errors += edit_distance(words_of(sentence), words_of(heard))
        words += len(words_of(sentence))
    data.update(
        machine=machine(),
        word_error_rate=errors / words,
        settings={
            "beam_size": args.beam_size,
            "threads": args.threads,
            "window_padding_seconds": args.window_padding_seconds,
            "end_of_speech_ms": args.end_of_speech_ms,
            "early_transcription": not args.no_early,
            "sentences": len(sentences),
        },
    )
    markdown = report(data)
    paths = write_outputs(args.output_dir, args.stem, data, markdown)
    print(markdown)
    print(f"wrote {paths['json']} and {paths['markdown']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
