"""Browser speech benchmark: end of speech -> first answer audio heard, in headless Chromium.

Starts the six services as processes with a fake OpenAI-compatible model that answers
at once, and the web front; Debian's chromium (driven by playwright) opens the page with
a WAV as its microphone (``--use-fake-device-for-media-stream
--use-file-for-fake-audio-capture``): N Harvard sentences of the default voice, each
followed by enough silence for its answer to play out. The page talks hands-free (the
microphone is sent all the time; the asr service's end-pointing decides).

Both ends are measured on the page's clock (``performance.now()``), by two WebAudio
analysers in one ``AudioContext``, polled every 5 ms (RMS of the last 256 samples):

- **end of speech**: the analyser on the *local microphone track* (what
  ``getUserMedia`` gives the page, after Chrome's echo cancellation, noise suppression
  and gain control) gives the last moment each utterance was above -40 dBFS, once 600 ms
  of quiet followed. This is where the file's known end of speech lands on the page's
  clock (the capture pipeline's delay included, about one 10 ms buffer). The utterance's
  loud length heard this way is compared with the file's (``alignment_error_ms``).
- **first answer audio**: the analyser on the *received stream* (the avatar's audio
  track): the first moment above -40 dBFS after the web front said the speech turn's
  first audio left (its ``speech_audio`` event on the data channel, which comes before
  that audio can be heard), so an earlier answer still playing is not taken for it. A
  turn's end of speech is the last utterance the microphone analyser heard end before
  the turn started.

Both analysers sit behind the same audio rendering, so their shared delay cancels out;
what Chrome adds after the analyser (its output device, ~30 ms here per the browser
benchmark's ``media-playout`` stats) is not in the figure. The means of the processes'
own histograms (asr: end of speech -> final and transcription time; gateway: end of
speech -> final and -> first answer audio sent; web front: end of speech, as the
microphone's audio arrived there, -> the answer's first audio handed to WebRTC) are read
from their ``/metrics`` at the end, to show where the time went.

    python -m benchmarks.browser_speech [--utterances 10] [--end-of-speech-ms 300]

Writes ``browser_speech.json`` and ``browser_speech.md`` to ``--output-dir`` (default
``benchmarks/results``). A benchmark, not a test: it plays its audio in real time.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
import urllib.request
import wave
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.asr import speak
from benchmarks.intelligibility import SENTENCES, edit_distance, words_of
from benchmarks.latency import free_ports
from benchmarks.reporting import (
    describe_machine,
    machine,
    markdown_table,
    percentiles,
    write_outputs,
)
from benchmarks.speech_turns import running_stack

CHROMIUM = "/usr/bin/chromium"
LEAD_SILENCE_SECONDS = 1.0
# After each sentence: its end-of-speech silence, the answer ("You said: ...", about 4 s
# of speech) and a quiet moment before the next sentence.
GAP_SECONDS = 8.0
LOUD_RMS = 0.01  # -40 dBFS
QUIET_END_SECONDS = 0.6  # longer than a pause within a sentence

PROBE = """async ({ loud, quietEnd }) => {
  const video = document.querySelector('[data-testid="live-video"]');
  const voice = window.avatarVoice;
  const context = new AudioContext();
  await context.resume();
  const analyser = (stream) => {
    const node = context.createAnalyser();
    node.fftSize = 256;
    context.createMediaStreamSource(stream).connect(node);
    return { node, samples: new Float32Array(node.fftSize) };
  };
  const rms = ({ node, samples }) => {
    node.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const value of samples) sum += value * value;
    return Math.sqrt(sum / samples.length);
  };
  const mic = analyser(voice.stream);
  const out = analyser(video.srcObject);
  const probe = { utterances: [], turns: [], current: null, waiting: null };
  // A speech turn's answer: heard from the first loud moment after its first audio
  // was sent (the web front's speech_audio event), so an earlier answer still playing
  // is not taken for it.
  window.addEventListener("avatar-event", ({ detail }) => {
    const now = performance.now();
    if (detail.type === "turn_started" && detail.from_speech) {
      probe.turns.push({ id: detail.client_turn_id, text: detail.text, started: now });
    } else if (detail.type === "speech_audio") {
      const turn = probe.turns.find((t) => t.id === detail.client_turn_id);
      if (turn) {
        turn.sent = now;
        probe.waiting = turn;
      }
    }
  });
  setInterval(() => {
    const now = performance.now();
    if (rms(mic) > loud) {
      if (!probe.current) probe.current = { start: now, end: now };
      probe.current.end = now;
    } else if (probe.current && now - probe.current.end > quietEnd * 1000) {
      probe.utterances.push(probe.current);
      probe.current = null;
    }
    if (probe.waiting && rms(out) > loud) {
      probe.waiting.heard = now;
      probe.waiting = null;
    }
  }, 5);
  window.speechProbe = probe;
  return context.state;
}"""


def write_wav(path: Path, spoken: list[np.ndarray], rate: int) -> list[float]:
    """The microphone's file; returns each sentence's loud length (s) as the file has it."""
    lead = np.zeros(round(LEAD_SILENCE_SECONDS * rate), np.int16)
    gap = np.zeros(round(GAP_SECONDS * rate), np.int16)
    pieces, lengths = [lead], []
    for samples in spoken:
        pieces += [samples, gap]
        level = np.abs(samples.astype(np.float64)) / 32768
        window = round(0.005 * rate)
        loud = [
            i
            for i in range(0, len(level) - window, window)
            if np.sqrt(np.mean(level[i : i + window] ** 2)) > LOUD_RMS
        ]
        lengths.append((loud[-1] - loud[0] + window) / rate if loud else 0.0)
    pieces.append(np.zeros(round(30 * rate), np.int16))  # the file loops: not again
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.concatenate(pieces).astype("<i2").tobytes())
    return lengths


async def measure(url: str, wav: Path, count: int, progress=print) -> dict:
    """Talks to the page hands-free; returns the probe's times and the page's history."""
    from playwright.async_api import async_playwright

    args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    ]
    with tempfile.TemporaryDirectory(prefix="avatar-bench-chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=args, headless=True
            )
            try:
                page = await context.new_page()
                await page.goto(url)
                await page.wait_for_selector("body[data-ready=true]")
                await page.click('[data-testid="avatar-item"] .pick')
                await page.wait_for_selector(".screen[data-state=idle]", timeout=60_000)
                await page.click('[data-testid="hands-free"]')
                await page.wait_for_function("() => window.avatarVoice?.stream", timeout=10_000)
                await page.evaluate(PROBE, {"loud": LOUD_RMS, "quietEnd": QUIET_END_SECONDS})
                deadline = time.monotonic() + count * (GAP_SECONDS + 6) + 30
                done = 0
                while time.monotonic() < deadline:
                    items = await page.evaluate(HISTORY)
                    finished = [i for i in items if i["state"] in ("done", "interrupted", "error")]
                    if len(finished) > done:
                        done = len(finished)
                        progress(f"utterance {done}/{count}: {finished[-1]['text']!r}")
                    if done >= count:
                        break
                    await asyncio.sleep(0.5)
                await asyncio.sleep(1.0)
                probe = await page.evaluate(
                    "() => ({ utterances: window.speechProbe.utterances,"
                    " turns: window.speechProbe.turns })"
                )
                return {"probe": probe, "history": await page.evaluate(HISTORY)}
            finally:
                await context.close()


HISTORY = """() => [...document.querySelectorAll('[data-testid="history-item"]')].map(
  (item) => ({ state: item.dataset.state, text: item.querySelector('.text').textContent }))"""


def analyse(probe: dict, lengths: list[float], sentences: list[str]) -> list[dict]:
    """Each speech turn with its utterance's end of speech and its first answer audio heard.

    A turn is the sentence its transcript is nearest to; when the microphone analyser
    heard one utterance per sentence, that sentence's utterance is the turn's. Otherwise
    (a pause inside a sentence split it) the turn's is the last utterance that ended
    before the turn started.
    """
    rows = []
    utterances = probe["utterances"]
    one_each = len(utterances) == len(sentences)
    for index, turn in enumerate(probe["turns"]):
        sentence = min(
            range(len(sentences)),
            key=lambda i: edit_distance(words_of(sentences[i]), words_of(turn["text"])),
        )
        if one_each:
            heard_index = sentence
        else:
            before = [i for i, u in enumerate(utterances) if u["end"] < turn["started"]]
            if not before:
                continue
            heard_index = before[-1]
        utterance = utterances[heard_index]
        heard = turn.get("heard")
        rows.append(
            {
                "turn": index,
                "sentence": sentence,
                "utterance": heard_index,
                "text": turn["text"],
                "end_of_speech_ms": utterance["end"],
                "turn_started_ms": turn["started"],
                "first_audio_sent_ms": turn.get("sent"),
                "first_answer_audio_ms": heard,
                "end_of_speech_to_first_audio": (heard - utterance["end"]) / 1000
                if heard
                else None,
                "alignment_error_ms": (utterance["end"] - utterance["start"])
                - 1000 * lengths[sentence]
                if one_each
                else None,
            }
        )
    return rows


def histogram_mean(metrics_url: str, name: str) -> dict:
    """A Prometheus histogram's count and mean, read from a ``/metrics`` page."""
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    found = {
        kind: float(value)
        for kind, value in re.findall(rf"^{name}_(sum|count)(?:{{[^}}]*}})? (\S+)$", text, re.M)
    }
    count = found.get("count", 0.0)
    return {"count": count, "mean": found.get("sum", 0.0) / count if count else None}


# Where the time goes, from each process's own histograms: (service, metric, label).
STAGES = (
    ("asr", "avatar_asr_end_of_speech_to_final_seconds", "asr: end of speech -> final"),
    ("asr", "avatar_asr_transcription_seconds", "asr: transcription of an utterance"),
    (
        "gateway",
        "avatar_converse_end_of_speech_to_final_seconds",
        "gateway: end of speech -> final",
    ),
    (
        "gateway",
        "avatar_converse_end_of_speech_to_first_audio_seconds",
        "gateway: end of speech -> first answer audio sent",
    ),
    (
        "web",
        "avatar_web_end_of_speech_to_first_audio_seconds",
        "web front: end of speech -> first answer audio to WebRTC",
    ),
)


def report(data: dict) -> str:
    """The Markdown summary."""
    values = [r["end_of_speech_to_first_audio"] for r in data["utterances"]]
    measured = [v for v in values if v is not None]
    stats = percentiles(measured)
    alignment = [
        abs(r["alignment_error_ms"])
        for r in data["utterances"]
        if r["alignment_error_ms"] is not None
    ]
    rows = []
    for key, label in (
        ("turn_started_ms", "... -> the speech turn started (its event at the page)"),
        ("first_audio_sent_ms", "... -> its first audio left the web front (event at the page)"),
    ):
        stage = [
            (r[key] - r["end_of_speech_ms"]) / 1000
            for r in data["utterances"]
            if r[key] is not None
        ]
        part = percentiles(stage)
        rows.append(
            [label, *(f"{1000 * part[p]:.0f} ms" for p in ("p50", "p90"))]
            + [f"{1000 * statistics.fmean(stage):.0f} ms" if stage else "-"]
        )
    rows.insert(
        0,
        [
            "end of speech -> first answer audio heard",
            f"{1000 * stats['p50']:.0f} ms",
            f"{1000 * stats['p90']:.0f} ms",
            f"{1000 * statistics.fmean(measured):.0f} ms" if measured else "-",
        ],
    )
    for label, stage in data["processes"].items():
        if stage["mean"] is not None:
            rows.append([f"{label} (its histogram)", "", "", f"{1000 * stage['mean']:.0f} ms"])
    return "\n".join(
        [
            f"End of speech -> first answer audio in headless Chromium, {len(measured)} of "
            f"{data['settings']['utterances']} utterances answered and heard (Harvard sentences of the default "
            "voice played as the microphone, hands-free); six processes and the web front on "
            "this machine, a fake model answering at once; the asr service's end of speech "
            f"after {data['settings'].get('end_of_speech_ms', 500)} ms of silence; word error "
            "rate of the shown transcripts "
            f"{data['word_error_rate']:.3f}; end-of-speech alignment within "
            f"{max(alignment, default=0):.0f} ms (median {statistics.median(alignment or [0]):.0f}"
            f" ms); {describe_machine(data['machine'])}; 1-minute load average "
            f"{data['load_average_after']['1m']:.1f} at the end.",
            "",
            markdown_table(["figure", "p50", "p90", "mean"], rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.browser_speech``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--utterances", type=int, default=10, help="sentences said (>= 10)")
    parser.add_argument("--end-of-speech-ms", type=int, default=300, help="asr silence")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    sentences = list(SENTENCES[: max(1, args.utterances)])
    spoken, rate = speak(sentences)
    with tempfile.TemporaryDirectory(prefix="avatar-bench-speech-") as work:
        wav = Path(work) / "microphone.wav"
        lengths = write_wav(wav, spoken, rate)
        with running_stack(Path(work), args.end_of_speech_ms) as (stack, _avatar_id):
            web_port, metrics_port = free_ports(2)
            stack.start_web(port=web_port, metrics_port=metrics_port)
            stack.wait_until_web_serving()
            before = machine()
            print(f"measuring on {describe_machine(before)}", flush=True)
            url = f"http://127.0.0.1:{web_port}/"
            measured = asyncio.run(measure(url, wav, len(sentences)))
            ports = {**stack.ports.metrics, "web": metrics_port}
            processes = {
                label: histogram_mean(f"http://127.0.0.1:{ports[service]}/metrics", name)
                for service, name, label in STAGES
            }
    rows = analyse(measured["probe"], lengths, sentences)
    spoken_items = measured["history"]
    errors = words = 0
    for index, sentence in enumerate(sentences):
        heard = spoken_items[index]["text"] if index < len(spoken_items) else ""
        errors += edit_distance(words_of(sentence), words_of(heard))
        words += len(words_of(sentence))
    data = {
        "benchmark": "browser_speech",
        "settings": {
            "utterances": len(sentences),
            "gap_seconds": GAP_SECONDS,
            "end_of_speech_ms": args.end_of_speech_ms,
        },
        "machine": before,
        "load_average_after": machine()["load_average"],
        "utterances": rows,
        "history": spoken_items,
        "processes": processes,
        "probe": measured["probe"],
        "word_error_rate": errors / words,
    }
    markdown = report(data)
    paths = write_outputs(args.output_dir, "browser_speech", data, markdown)
    print(markdown)
    print(f"wrote {paths['json']} and {paths['markdown']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
