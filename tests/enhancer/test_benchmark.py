"""``benchmarks.enhancer`` runs and writes what it promises (the OpenCV row, to stay fast)."""

from __future__ import annotations

import json

from benchmarks.enhancer import main


def test_the_benchmark_writes_json_and_markdown(tmp_path, capsys):
    main(["--models", "", "--frames", "2", "--output-dir", str(tmp_path)])
    data = json.loads((tmp_path / "enhancer.json").read_text())
    (row,) = data["results"]
    assert row["backend"] == "opencv" and 0 < row["seconds_per_frame"] < 1
    assert data["machine"]["cores"] >= 1
    markdown = (tmp_path / "enhancer.md").read_text()
    assert markdown.startswith("| backend | device | GMACs |") and "| opencv |" in markdown
    assert "wrote" in capsys.readouterr().out
