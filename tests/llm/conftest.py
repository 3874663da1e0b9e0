"""Fixtures of the llm tests: a fake OpenAI-compatible server and engines using it."""

from __future__ import annotations

import socket

import pytest

from avatar_devtools.fake_openai import FakeOpenAI


@pytest.fixture
def fake_openai():
    """A running fake endpoint; ``fake_openai.base_url`` is its URL."""
    server = FakeOpenAI()
    with server:
        yield server


@pytest.fixture
def closed_port_url() -> str:
    """The URL of a local port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
