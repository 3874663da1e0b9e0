"""Speech turns of a live session: end of speech -> final transcript -> first answer audio.

Starts the stack as six processes on free ports (asr included) with a fake
OpenAI-compatible model that answers at once ("You said: ..."), opens one ``Converse``
session with the sample avatar (speech turns in CHAT, the default), and plays Harvard
sentences of the default voice into it as the microphone: 20 ms chunks paced in real
time, silence between. Each sentence waits for the answer to finish before the next.
Per utterance, at the gRPC client:

- end of speech -> final: from the moment the last voiced sample was sent to the
  ``UserSpeech`` FINAL's arrival (the end-of-speech silence, 300 ms by default, is part
  of it: speech has not ended before that silence has passed);
- end of speech -> first answer audio: to the arrival of the answer turn's first audio
  (the LLM's answer, synthesised and animated; the gateway sends each tick up to
  ``AVATAR_GATEWAY_SESSION_LEAD_SECONDS``, 0.1 s, before its time);
- the word error rate of the transcripts.

    python -m benchmarks.speech_turns [--sentences 10] [--end-of-speech-ms 300]

Writes ``speech_turns.json`` and ``speech_turns.md`` to ``--output-dir`` (default
``benchmarks/results``). A benchmark, not a test: it plays its audio in real time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc
import numpy as np

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar_devtools.client import GatewayClient
from avatar_devtools.fake_openai import FakeOpenAI
from avatar_devtools.samples import sample_face
from avatar_devtools.stack import LocalStack, StackPorts
from benchmarks.asr import speak, voiced_end
from benchmarks.intelligibility import SENTENCES, edit_distance, words_of
from benchmarks.latency import free_ports
from benchmarks.reporting import (
    describe_machine,
    machine,
    markdown_table,
    percentiles,
    write_outputs,
)

SERVICES = ["llm", "tts", "animator", "enhancer", "asr", "gateway"]
CHUNK_SECONDS = 0.02
LEAD_SILENCE_SECONDS = 0.6
AFTER_ANSWER_SECONDS = 0.6


@contextlib.contextmanager
def running_stack(work_dir: Path, end_of_speech_ms: int) -> Iterator[tuple[LocalStack, str]]:
    """The six services as processes and a fake model; yields the stack and an avatar id."""
    ports = free_ports(2 * len(SERVICES))
    with FakeOpenAI() as base_url:
        settings = {
            "AVATAR_GATEWAY_AVATAR_DIR": str(work_dir / "avatars"),
            "AVATAR_LLM_BASE_URL": base_url,
            "AVATAR_LLM_MODEL": "fake-model",
            "AVATAR_ASR_END_OF_SPEECH_MS": str(end_of_speech_ms),
        }
        count = len(SERVICES)
        stack = LocalStack(
            StackPorts(
                grpc=dict(zip(SERVICES, ports[:count], strict=True)),
                metrics=dict(zip(SERVICES, ports[count:], strict=True)),
            ),
            settings,
            log_dir=work_dir / "logs",
        )
        with stack:
            stack.start()
            stack.wait_until_serving(timeout=300)
            yield stack, asyncio.run(_avatar(stack))


async def _avatar(stack: LocalStack) -> str:
    async with GatewayClient(stack.gateway_address) as client:
        return (await client.create_avatar(sample_face(), "sample")).avatar_id


class Session:
    """One Converse call: the microphone paced in real time, and the events that came."""

    def __init__(self, stub: gateway_pb2_grpc.GatewayServiceStub, avatar_id: str, rate: int):
        self.rate = rate
        self.events: list[tuple[float, gateway_pb2.ConverseResponse]] = []
        self.changed = asyncio.Event()
        self._speech: list[np.ndarray] = []
        self._ends: list[tuple[int, asyncio.Future[float]]] = []
        config = gateway_pb2.ConverseConfig(avatar_id=avatar_id)
        self.call = stub.Converse(self._requests(config), timeout=3600)
        self._reader = asyncio.create_task(self._read())

    def say(self, samples: np.ndarray) -> asyncio.Future[float]:
        """Queues speech; the future gets the time its last voiced sample was sent."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._speech.append(samples)
        self._ends.append((voiced_end(samples), done))
        return done

    async def wait_for(self, condition, since: int, timeout: float = 60.0) -> tuple[int, float]:
        """Waits for the first event from index ``since`` on that ``condition(event)`` holds
        for; returns its index and arrival time."""
        async with asyncio.timeout(timeout):
            while True:
                for index in range(since, len(self.events)):
                    when, event = self.events[index]
                    if condition(event):
                        return index, when
                since = len(self.events)
                self.changed.clear()
                await self.changed.wait()

    async def _requests(self, config: gateway_pb2.ConverseConfig):
        yield gateway_pb2.ConverseRequest(config=config)
        step = round(CHUNK_SECONDS * self.rate)
        sent, started = 0, time.perf_counter()
        silence = np.zeros(step, dtype=np.int16)
        current, position = np.zeros(0, dtype=np.int16), 0
        while True:
            if position >= len(current) and self._speech:
                current, position = self._speech.pop(0), 0
            chunk = current[position : position + step] if position < len(current) else silence
            if position < len(current):
                position += len(chunk)
                end, done = self._ends[0]
                if position >= end:
                    self._ends.pop(0)
                    done.set_result(time.perf_counter())
                    current = current[:0]
            pcm = chunk.astype("<i2").tobytes()
            audio = media_pb2.AudioChunk(pcm=pcm, sample_rate=self.rate, sample_offset=sent)
            yield gateway_pb2.ConverseRequest(audio=audio)
            sent += len(chunk)
            await asyncio.sleep(max(0.0, started + sent / self.rate - time.perf_counter()))

    async def _read(self) -> None:
        async for event in self.call:
            self.events.append((time.perf_counter(), event))
            self.changed.set()


def _is_final(event: gateway_pb2.ConverseResponse) -> bool:
    return event.user_speech.kind == gateway_pb2.USER_SPEECH_KIND_FINAL


async def measure(address: str, avatar_id: str, spoken: list[np.ndarray], rate: int) -> list:
    """Plays each sentence into one session; returns per-utterance figures."""
    rows = []
    async with grpc.aio.insecure_channel(address) as channel:
        session = Session(gateway_pb2_grpc.GatewayServiceStub(channel), avatar_id, rate)
        await session.wait_for(lambda e: e.HasField("frames"), 0)
        await asyncio.sleep(LEAD_SILENCE_SECONDS)
        for index, samples in enumerate(spoken):
            since = len(session.events)
            ended = await session.say(samples)
            at, final_at = await session.wait_for(_is_final, since)
            final = session.events[at][1]
            turn = final.user_speech.turn
            _, audio_at = await session.wait_for(lambda e, t=turn: e.turn == t and e.audio.pcm, at)
            await session.wait_for(lambda e, t=turn: e.turn == t and e.HasField("turn_ended"), at)
            rows.append(
                {
                    "sentence": index,
                    "text": final.user_speech.text,
                    "end_of_speech_to_final": final_at - ended,
                    "end_of_speech_to_first_audio": audio_at - ended,
                }
            )
            print(f"{index}: {rows[-1]['end_of_speech_to_first_audio']:.3f} s {rows[-1]['text']}")
            await asyncio.sleep(AFTER_ANSWER_SECONDS)
        session.call.cancel()
    return rows


def report(data: dict) -> str:
    """The Markdown summary: p50/p90 of each figure, the WER, the machine."""
    rows = data["utterances"]
    table = []
    for key, label in (
        ("end_of_speech_to_final", "end of speech -> final transcript"),
        ("end_of_speech_to_first_audio", "end of speech -> first answer audio"),
    ):
        values = [row[key] for row in rows]
        stats = percentiles(values)
        table.append(
            [label, *(f"{1000 * v:.0f} ms" for v in (stats["p50"], stats["p90"]))]
            + [f"{1000 * statistics.fmean(values):.0f} ms"]
        )
    settings = data["settings"]
    return "\n".join(
        [
            f"Speech turns of one Converse session over {len(rows)} utterances of the default "
            f"voice (Harvard sentences, paced in real time in {CHUNK_SECONDS * 1000:.0f} ms "
            f"chunks), at the gRPC client; six processes on this machine, a fake model "
            f"answering at once; end of speech after {settings['end_of_speech_ms']} ms of "
            f"silence; word error rate {data['word_error_rate']:.3f}; "
            f"{describe_machine(data['machine'])}.",
            "",
            markdown_table(["figure", "p50", "p90", "mean"], table),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.speech_turns``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=10)
    parser.add_argument("--end-of-speech-ms", type=int, default=300)
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--stem", default="speech_turns")
    args = parser.parse_args(argv)
    sentences = list(SENTENCES[: max(1, args.sentences)])
    spoken, rate = speak(sentences)
    with (
        tempfile.TemporaryDirectory() as work,
        running_stack(Path(work), args.end_of_speech_ms) as (stack, avatar_id),
    ):
        rows = asyncio.run(measure(stack.gateway_address, avatar_id, spoken, rate))
    errors = words = 0
    for row in rows:
        row["reference"] = sentences[row["sentence"]]
        errors += edit_distance(words_of(row["reference"]), words_of(row["text"]))
        words += len(words_of(row["reference"]))
    data = {
        "utterances": rows,
        "word_error_rate": errors / words,
        "machine": machine(),
        "settings": {"end_of_speech_ms": args.end_of_speech_ms, "sentences": len(sentences)},
    }
    markdown = report(data)
    paths = write_outputs(args.output_dir, args.stem, data, markdown)
    print(markdown)
    print(f"wrote {paths['json']} and {paths['markdown']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
