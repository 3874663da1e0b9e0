"""The soak benchmark, run for a few seconds so it cannot rot (the real run is 10 minutes)."""

from __future__ import annotations

import json

import pytest

from benchmarks import soak

pytestmark = pytest.mark.slow


def test_a_short_soak_runs_clean_and_reports_memory_descriptors_and_av_offset(tmp_path):
    argv = ["--minutes", "0.15", "--streams", "4", "--sample-seconds", "1"]
    assert soak.main([*argv, "--output-dir", str(tmp_path)]) == 0

    report = json.loads((tmp_path / "soak.json").read_text())["report"]
    assert report["errors"] == 0 and report["calls"] >= 8
    assert report["samples"] >= 5
    assert set(report["processes"]) == set(soak.SERVICES)
    for figures in report["processes"].values():
        assert figures["rss_end_bytes"] > 10 * 2**20 and figures["fds_end"] > 3
        assert isinstance(figures["rss_slope_bytes_per_minute"], float)
    # The gateway pads each sentence's audio to whole frames: sound and picture end together.
    assert report["av_offset_seconds"]["max"] < 0.5 / soak.FPS
    assert "| gateway |" in (tmp_path / "soak.md").read_text()


def test_the_slope_is_per_minute():
    assert soak.slope_per_minute([0.0, 30.0, 60.0], [100.0, 200.0, 300.0]) == pytest.approx(200.0)
    assert soak.slope_per_minute([5.0], [1.0]) == 0.0
