"""The fake OpenAI server runs as its own process for end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request


def test_command_line_server_prints_its_url_and_serves_models():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "avatar_devtools.fake_openai",
            "--port",
            "0",
            "--model",
            "cli-model",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
            models = json.load(response)
        assert [model["id"] for model in models["data"]] == ["cli-model"]
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
