"""The soak benchmark, run for a few seconds so it cannot rot (the real run is 10 minutes)."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import soak

pytestmark = pytest.mark.slow

SECONDS = 9.0
SAMPLE_SECONDS = 1.0
STREAMS = 4


def test_a_short_soak_runs_clean_and_reports_memory_descriptors_and_av_offset(tmp_path):
    argv = ["--minutes", str(SECONDS / 60), "--streams", str(STREAMS)]
    argv += ["--sample-seconds", str(SAMPLE_SECONDS), "--output-dir", str(tmp_path)]
    assert soak.main(argv) == 0

    report = json.loads((tmp_path / "soak.json").read_text())["report"]
    # Every call succeeded; the streams start at different requests of the cycle, so
    # speech, high quality and chat all ran, and the load went on past the first round
    # (how far past depends on how busy the machine is).
    assert report["errors"] == 0 and report["error_examples"] == []
    assert report["calls"] > STREAMS
    _assert_one_memory_series_per_process(report)
    # The gateway pads each sentence's audio to whole frames: sound and picture end
    # together in every call, so there is no offset and nothing to drift.
    offsets = report["av_offset_seconds"]
    assert offsets["max"] == pytest.approx(0.0, abs=1e-9)
    assert offsets["mean"] == pytest.approx(0.0, abs=1e-9)
    assert offsets["slope_per_minute"] == pytest.approx(0.0, abs=1e-9)
    table = (tmp_path / "soak.md").read_text()
    assert all(f"| {service} |" in table for service in soak.SERVICES)
    assert f"{report['calls']} calls, 0 errors" in table


def _assert_one_memory_series_per_process(report: dict) -> None:
    """A sample each second of the run, every process's memory in each, matching the figures."""
    series = report["rss_mib_series"]
    assert len(series) == report["samples"] >= SECONDS / SAMPLE_SECONDS - 2
    times = [row[0] for row in series]
    assert times == sorted(times) and times[-1] - times[0] >= SECONDS - 3 * SAMPLE_SECONDS
    assert set(report["processes"]) == set(soak.SERVICES)
    for column, service in enumerate(soak.SERVICES, start=1):
        rss_mib = [row[column] for row in series]
        figures = report["processes"][service]
        assert min(rss_mib) > 10, service  # a live Python process, not a missing one
        assert rss_mib[0] == round(figures["rss_start_bytes"] / 2**20, 1), service
        assert rss_mib[-1] == round(figures["rss_end_bytes"] / 2**20, 1), service
        assert max(rss_mib) == round(figures["rss_max_bytes"] / 2**20, 1), service
        assert figures["fds_start"] > 3 and figures["fds_end"] > 3, service
        for slope in ("rss_slope_bytes_per_minute", "fds_slope_per_minute"):
            assert math.isfinite(figures[slope]), (service, slope)


def test_the_slope_is_per_minute():
    assert soak.slope_per_minute([0.0, 30.0, 60.0], [100.0, 200.0, 300.0]) == pytest.approx(200.0)
    assert soak.slope_per_minute([5.0], [1.0]) == 0.0
