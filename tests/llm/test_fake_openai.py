"""The fake OpenAI server runs as its own process for end-to-end tests, and reports what it got."""

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
            "--reply",
            "questions",
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
        messages = [
            {"role": "user", "content": "One?"},
            {"role": "assistant", "content": "Yes."},
            {"role": "user", "content": "Two?"},
        ]
        body = json.dumps({"model": "cli-model", "messages": messages}).encode()
        chat = urllib.request.Request(
            f"{base_url}/chat/completions", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(chat, timeout=5) as response:
            answer = json.load(response)["choices"][0]["message"]["content"]
        assert answer == "You have asked me 2 questions."
        with urllib.request.urlopen(f"{base_url}/received", timeout=5) as response:
            received = json.load(response)["requests"]
        assert [request["messages"] for request in received] == [messages]
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
