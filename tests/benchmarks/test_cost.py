"""What the latency benchmark reports about cost: the services' CPU, the floor, the targets."""

from __future__ import annotations

import os
import time

from benchmarks import latency_report
from benchmarks.latency import StackCpu, jpeg_floor_fps


def test_stack_cpu_counts_the_cpu_a_process_spends():
    cpu = StackCpu({"here": os.getpid()})
    before = cpu.seconds()
    started = time.process_time()
    while time.process_time() - started < 0.3:
        sum(range(1000))
    spent = cpu.seconds() - before
    # /proc counts in clock ticks (usually 10 ms).
    assert 0.25 <= spent <= 0.3 + time.process_time() - started


def test_the_jpeg_floor_is_a_frame_rate():
    assert 50 < jpeg_floor_fps(0.2) < 20_000


def _result(text: str, quality: str, streams: int, total: float, fast: bool) -> dict:
    stats = {"p50": total, "p90": total, "p99": total}
    return {
        "text": text,
        "quality": quality,
        "streams": streams,
        "total_seconds": stats,
        "time_to_first_audio_seconds": {"p50": 0.02},
        "time_to_first_frame_seconds": {"p50": 0.04},
        "real_time_factor": {"p50": total / 2},
        "every_call_faster_than_real_time": fast,
    }


def test_streams_count_as_fast_only_when_every_text_is():
    short, long = latency_report.SHORT_TEXT, "A longer text of two sentences. Here it is."
    results = [
        _result(short, "low", 1, 0.2, True),
        _result(long, "low", 1, 0.5, True),
        _result(short, "high", 1, 0.25, True),
        _result(long, "high", 1, 0.8, True),
        _result(short, "low", 16, 1.5, True),
        _result(long, "low", 16, 2.5, False),
        _result(short, "low", 8, 1.0, True),
        _result(long, "low", 8, 1.9, True),
    ]
    checks = {c["target"]: c for c in latency_report.targets(results)}
    streams = checks["concurrent streams each faster than real time (low, every text)"]
    assert streams["measured"] == 8 and streams["met"] is False
    ratios = [c for name, c in checks.items() if name.startswith("high quality's time")]
    assert [round(c["measured"], 2) for c in ratios] == [1.25, 1.6]
    assert [c["met"] for c in ratios] == [True, False]
    assert checks["first audio at the client"]["met"] is True


def test_stack_cpu_splits_the_cpu_by_service():
    cpu = StackCpu({"here": os.getpid(), "parent": os.getppid()})
    before = cpu.by_service()
    started = time.process_time()
    while time.process_time() - started < 0.3:
        sum(range(1000))
    after = cpu.by_service()
    assert set(after) == {"here", "parent"}
    assert after["here"] - before["here"] >= 0.25
    assert cpu.seconds() >= sum(after.values())


def test_the_cost_table_splits_each_configuration_by_service():
    result = {
        "text": latency_report.SHORT_TEXT,
        "quality": "low",
        "streams": 16,
        "cost_by_service": {"gateway": 0.02, "tts": 0.03, "animator": 0.15},
    }
    table = latency_report.cost_table([result])
    header, _, row = table.splitlines()[:3]
    assert header.split("|")[4:7] == [" gateway ", " tts ", " animator "]
    assert "0.150 (75%)" in row and "0.020 (10%)" in row and "0.030 (15%)" in row
    assert latency_report.cost_table([{**result, "cost_by_service": {}}]) == ""
