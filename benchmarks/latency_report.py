"""Renders the latency sweep: console lines, the Markdown table, targets and a PNG plot."""

from __future__ import annotations

from pathlib import Path

from benchmarks.reporting import describe_machine, markdown_table

SHORT_TEXT = "Hi, how are you today?"
# The targets of the design (section 7), on a 2-core CPU with the default backends:
# latencies and one stream's real-time factor for "Hi, how are you today?", concurrent
# streams and high quality's cost on every text measured.
TARGETS_MS = {"first_audio": 50.0, "first_frame": 100.0}
TARGET_REAL_TIME_FACTOR = 0.1
TARGET_STREAMS_FASTER_THAN_REAL_TIME = {"low": 16, "high": 8}
TARGET_HIGH_OVER_LOW = 1.3
HEADER = [
    "text", "quality", "streams", "calls",
    "first audio ms", "first frame ms", "inter-chunk gap ms", "total s",
    "real-time factor", "delivered fps", "all streams fps", "cost per stream", "x floor",
]  # fmt: skip


def label(text: str) -> str:
    """A short quoted label of a text."""
    return f'"{text}"' if len(text) <= 40 else f'"{text[:38].rsplit(" ", 1)[0]}..."'


def _triple(stats: dict, scale: float = 1.0, digits: int = 0) -> str:
    return " / ".join(f"{stats[p] * scale:.{digits}f}" for p in ("p50", "p90", "p99"))


def progress_line(result: dict) -> str:
    """One console line per configuration, while the sweep runs."""
    return (
        f"{label(result['text']):42} {result['quality']:4} x{result['streams']:<2} "
        f"first audio {result['time_to_first_audio_seconds']['p50'] * 1000:6.0f} ms  "
        f"first frame {result['time_to_first_frame_seconds']['p50'] * 1000:6.0f} ms  "
        f"total {result['total_seconds']['p50']:6.2f} s  "
        f"RTF {result['real_time_factor']['p50']:5.2f}  "
        f"{result['aggregate_fps']:6.1f} fps in all"
    )


def table(results: list[dict]) -> str:
    """The results as Markdown: one row per configuration, p50 / p90 / p99 per metric."""
    rows = [
        [
            label(r["text"]),
            r["quality"],
            r["streams"],
            r["calls"],
            _triple(r["time_to_first_audio_seconds"], 1000),
            _triple(r["time_to_first_frame_seconds"], 1000),
            _triple(r["inter_chunk_gap_seconds"], 1000, 1),
            _triple(r["total_seconds"], 1, 2),
            _triple(r["real_time_factor"], 1, 3),
            _triple(r["delivered_fps"], 1, 1),
            f"{r['aggregate_fps']:.1f}",
            f"{r['cost_per_stream']:.3f}" if "cost_per_stream" in r else "-",
            f"{r['floor_share']:.0%}" if "floor_share" in r else "-",
        ]  # fmt: skip
        for r in results
    ]
    return markdown_table(HEADER, rows)


def cost_table(results: list[dict]) -> str:
    """Each configuration's cost per stream split by service (CPU-seconds per second of one
    stream's video), with each service's share of the whole; empty without CPU figures."""
    measured = [r for r in results if r.get("cost_by_service")]
    if not measured:
        return ""
    services = list(measured[0]["cost_by_service"])
    rows = []
    for r in measured:
        costs = r["cost_by_service"]
        total = sum(costs.values()) or 1.0
        rows.append(
            [label(r["text"]), r["quality"], r["streams"]]
            + [f"{costs.get(s, 0.0):.3f} ({costs.get(s, 0.0) / total:.0%})" for s in services]
        )
    return markdown_table(["text", "quality", "streams", *services], rows)


def _find(results: list[dict], quality: str, streams: int, text: str = SHORT_TEXT) -> dict | None:
    for result in results:
        if (result["text"], result["quality"], result["streams"]) == (text, quality, streams):
            return result
    return None


def targets(results: list[dict]) -> list[dict]:
    """The latency targets against the short sentence's measurements.

    Latencies are p50 of one stream; "faster than real time" means every counted call
    of every stream had a real-time factor below 1 (the worst text counts).
    """
    low = _find(results, "low", 1)
    checks = []

    def check(name: str, goal: str, value: float | None, unit: str, met: bool | None) -> None:
        checks.append({"target": name, "goal": goal, "measured": value, "unit": unit, "met": met})

    for key, metric, name in (
        ("first_audio", "time_to_first_audio_seconds", "first audio at the client"),
        ("first_frame", "time_to_first_frame_seconds", "first frame at the client"),
    ):
        value = low[metric]["p50"] * 1000 if low else None
        check(name, f"<= {TARGETS_MS[key]:.0f} ms", value, "ms",
              None if value is None else value <= TARGETS_MS[key])  # fmt: skip
    value = low["real_time_factor"]["p50"] if low else None
    check("real-time factor, one stream (low)", f"<= {TARGET_REAL_TIME_FACTOR}", value, "",
          None if value is None else value <= TARGET_REAL_TIME_FACTOR)  # fmt: skip
    for text in dict.fromkeys(r["text"] for r in results):
        one = {q: _find(results, q, 1, text) for q in ("low", "high")}
        if one["low"] and one["high"]:
            ratio = one["high"]["total_seconds"]["p50"] / one["low"]["total_seconds"]["p50"]
            check(f"high quality's time over low's, one stream, {label(text)}",
                  f"<= {TARGET_HIGH_OVER_LOW}", ratio, "x", ratio <= TARGET_HIGH_OVER_LOW)  # fmt: skip
    for quality, goal in TARGET_STREAMS_FASTER_THAN_REAL_TIME.items():
        measured = [r for r in results if r["quality"] == quality]
        counts = {r["streams"] for r in measured}
        fast = [
            n
            for n in counts
            if all(r["every_call_faster_than_real_time"] for r in measured if r["streams"] == n)
        ]
        most = max(fast, default=0)
        # A sweep that never tried `goal` streams cannot tell.
        tried = any(r["streams"] >= goal for r in measured)
        check(f"concurrent streams each faster than real time ({quality}, every text)",
              f">= {goal}", most if measured else None, "streams",
              most >= goal if tried else None)  # fmt: skip
    return checks


def targets_table(checks: list[dict]) -> str:
    """The targets as Markdown."""
    verdict = {True: "met", False: "**not met**", None: "not measured"}
    rows = [[c["target"], c["goal"], _measured(c), verdict[c["met"]]] for c in checks]
    return markdown_table(["target", "goal", "measured", ""], rows)


def _measured(check: dict) -> str:
    if check["measured"] is None:
        return "-"
    digits = 0 if check["unit"] in ("ms", "streams") else 3
    return f"{check['measured']:.{digits}f} {check['unit']}".strip()


def markdown(data: dict) -> str:
    """The whole Markdown report."""
    settings = data["settings"]
    after = data["load_average_after"]
    costs = cost_table(data["results"])
    split = ["Where the cost goes: *cost per stream* by service (share of the whole).", costs]
    animators = settings.get("animators")
    stack = (
        f" The stack ran {animators} animator process(es), each stream given to the least busy."
        if animators
        else ""
    )
    return "\n\n".join(
        [
            "## Latency: concurrent Speak streams",
            f"Measured on {describe_machine(data['machine'])}; load average after the run "
            f"{after['1m']:.2f}.{stack} Each stream ran {settings['warmup']} warm-up call(s), not "
            f"counted, then {settings['iterations']} counted call(s); cells are p50 / p90 / "
            "p99 over every counted call. *delivered fps*: frames over the call's total time "
            "(25 keeps up with playback); *all streams fps*: frames of all streams over the "
            "wall time; *cost per stream*: CPU-seconds of all the services per second of "
            "one stream's video; *x floor*: all streams fps as a share of every core "
            "JPEG-encoding 512 px frames and nothing else "
            f"({data.get('jpeg_floor_fps_per_core', 0):.0f} frames per second per core "
            "here).",
            table(data["results"]),
            *(split if costs else []),
            targets_table(data.get("targets", [])),
        ]
    )


def plot(data: dict, path: Path) -> Path:
    """Plots p50 (solid) and p90 (dashed) of each metric against the stream count."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    panels = [
        ("time_to_first_audio_seconds", "first audio (ms)", 1000),
        ("time_to_first_frame_seconds", "first frame (ms)", 1000),
        ("inter_chunk_gap_seconds", "inter-chunk gap (ms)", 1000),
        ("total_seconds", "total (s)", 1),
        ("real_time_factor", "real-time factor", 1),
        ("delivered_fps", "delivered fps per stream", 1),
    ]
    figure, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    series = sorted({(r["text"], r["quality"]) for r in data["results"]}, key=str)
    for axis, (metric, title, scale) in zip(axes.flat, panels, strict=True):
        for index, (text, quality) in enumerate(series):
            rows = [r for r in data["results"] if (r["text"], r["quality"]) == (text, quality)]
            rows.sort(key=lambda r: r["streams"])
            streams = [r["streams"] for r in rows]
            color = f"C{index}"
            name = f"{quality}: {label(text)}"
            axis.plot(streams, [r[metric]["p50"] * scale for r in rows], "o-", color=color,
                      label=name)  # fmt: skip
            axis.plot(streams, [r[metric]["p90"] * scale for r in rows], "--", color=color,
                      alpha=0.6)  # fmt: skip
        axis.set_title(title)
        axis.set_xlabel("concurrent streams")
        axis.set_xscale("log", base=2)
        axis.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    figure.suptitle(f"avatar Speak latency (p50 solid, p90 dashed) - {data['machine']['cpu']}, "
                    f"{data['machine']['cores']} cores")  # fmt: skip
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
