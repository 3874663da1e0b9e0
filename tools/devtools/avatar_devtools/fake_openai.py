"""A small OpenAI-compatible chat server for tests, real HTTP on a local port.

It answers ``POST /v1/chat/completions`` (streamed as server-sent events in
OpenAI's chunk format, or as one JSON body) and ``GET /v1/models``. The answer is
derived from the request, so tests can check what the client sent: by default it
echoes the last user message and says how many messages it received, e.g.
``"You said: hello. I have seen 3 messages."``, streamed word by word
(:func:`question_count_reply` answers with the number of user messages instead). It
records every chat request body and reports them (the ``requests`` property, or
``GET /v1/received`` as JSON for a server run as a process), enforces the model name
(404 like OpenAI) and, when given one, the API key (401), can fail on purpose, and
counts streams whose client hung up early.

In a test::

    server = FakeOpenAI()
    with server as base_url:  # e.g. "http://127.0.0.1:43121/v1"
        ...
        assert server.requests[0]["messages"][-1]["content"] == "hello"

From the command line (end-to-end tests start it as a process; it prints its base
URL on the first line of stdout once it accepts connections)::

    python -m avatar_devtools.fake_openai --port 8099 --model fake-model
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "fake-model"

Reply = Callable[[list[dict[str, Any]]], str]


def echo_reply(messages: list[dict[str, Any]]) -> str:
    """The default answer: echoes the last user message and counts the messages."""
    user_messages = [m for m in messages if m.get("role") == "user"]
    last = str(user_messages[-1].get("content", "")) if user_messages else ""
    return f"You said: {last.strip().rstrip('.!?')}. I have seen {len(messages)} messages."


def question_count_reply(messages: list[dict[str, Any]]) -> str:
    """An answer that says how many user messages the request carried, in one sentence."""
    questions = sum(1 for message in messages if message.get("role") == "user")
    return f"You have asked me {questions} questions."


REPLIES: dict[str, Reply] = {"echo": echo_reply, "questions": question_count_reply}
"""The answers the command line offers, by name."""


class FakeOpenAI:
    """An OpenAI-compatible HTTP server running in a background thread.

    Args:
        host: Address to listen on.
        port: Port; 0 picks a free one.
        model: The one model it serves; requests for another get 404.
        api_key: When set, requests must carry ``Authorization: Bearer <api_key>``.
        reply: Builds the answer from the request's messages.
        chunk_delay: Seconds to wait before each streamed chunk (slow models).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = DEFAULT_MODEL,
        api_key: str | None = None,
        reply: Reply = echo_reply,
        chunk_delay: float = 0.0,
    ) -> None:
        self.model = model
        self.api_key = api_key
        self.reply = reply
        self.chunk_delay = chunk_delay
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._failures: list[tuple[int, str]] = []
        self._hung_up = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client, ending in ``/v1``."""
        if self._server is None:
            raise RuntimeError("the fake OpenAI server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def hung_up_streams(self) -> int:
        """Streamed answers whose client closed the connection before the end."""
        with self._lock:
            return self._hung_up

    def wait_for_hang_ups(self, count: int, timeout: float = 5.0) -> bool:
        """Waits until ``count`` streams were abandoned by their clients; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.hung_up_streams < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def fail_next(self, status: int, message: str = "injected failure", count: int = 1) -> None:
        """Makes the next ``count`` chat requests fail with HTTP ``status``."""
        with self._lock:
            self._failures.extend([(status, message)] * count)

    def start(self) -> str:
        """Starts serving; returns the base URL."""
        self._server = _Server((self._host, self._port), _Handler, owner=self)
        # A short poll interval makes stop() quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="fake-openai", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stops serving and closes open connections, so clients see it go away."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _record(self, body: dict[str, Any]) -> tuple[int, str] | None:
        """Records a chat request; returns the injected failure it must get, if any."""
        with self._lock:
            self._requests.append(body)
            return self._failures.pop(0) if self._failures else None

    def _count_hang_up(self) -> None:
        with self._lock:
            self._hung_up += 1


class _Server(ThreadingHTTPServer):
    """Keeps track of open connections so that stopping really disconnects clients."""

    daemon_threads = True

    def __init__(self, address, handler, *, owner: FakeOpenAI) -> None:
        super().__init__(address, handler)
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as real servers do
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stays quiet: test output is for test failures."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/received":
            self._send_json(200, {"requests": self.server.owner.requests})
            return
        if self.path.rstrip("/") != "/v1/models":
            self._send_error(404, f"no route {self.path}", "not_found")
            return
        if not self._authorized():
            return
        model = {"id": self.server.owner.model, "object": "model", "created": 0, "owned_by": "test"}
        self._send_json(200, {"object": "list", "data": [model]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_error(404, f"no route {self.path}", "not_found")
            return
        if not self._authorized():
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send_error(400, "the body is not a JSON object", "invalid_request_error")
            return
        owner = self.server.owner
        failure = owner._record(body)
        if failure is not None:
            self._send_error(failure[0], failure[1], "server_error")
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._send_error(400, "'messages' must be a non-empty list", "invalid_request_error")
            return
        if body.get("model") != owner.model:
            message = f"The model `{body.get('model')}` does not exist"
            self._send_error(404, message, "invalid_request_error", code="model_not_found")
            return
        words, finish_reason = _limit_tokens(owner.reply(messages), body)
        if body.get("stream"):
            self._stream(words, finish_reason, body)
        else:
            self._send_json(200, _completion(owner.model, words, finish_reason))

    def _authorized(self) -> bool:
        expected = self.server.owner.api_key
        if expected is None or self.headers.get("Authorization") == f"Bearer {expected}":
            return True
        self._send_error(401, "Incorrect API key provided", "invalid_request_error")
        return False

    def _stream(self, words: list[str], finish_reason: str, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        owner = self.server.owner
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        try:
            for chunk in _chunks(owner.model, words, finish_reason, include_usage):
                if owner.chunk_delay:
                    time.sleep(owner.chunk_delay)
                self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
            self._write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            owner._count_hang_up()
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, kind: str, code: str | None = None) -> None:
        error = {"message": message, "type": kind, "param": None, "code": code}
        self._send_json(status, {"error": error})


def _limit_tokens(answer: str, body: dict[str, Any]) -> tuple[list[str], str]:
    """Splits the answer into word tokens (with their trailing space), cut at the limit."""
    words = [word + " " for word in answer.split(" ") if word]
    if words:
        words[-1] = words[-1].rstrip()
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and 0 < limit < len(words):
        return words[:limit], "length"
    return words, "stop"


def _chunks(
    model: str, words: list[str], finish_reason: str, include_usage: bool
) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of one streamed answer, as OpenAI sends them."""
    identity = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**identity, "choices": [choice]}

    yield chunk({"role": "assistant", "content": ""}, None)
    for word in words:
        yield chunk({"content": word}, None)
    yield chunk({}, finish_reason)
    if include_usage:
        usage = {"prompt_tokens": 1, "completion_tokens": len(words)}
        yield {**identity, "choices": [], "usage": {**usage, "total_tokens": len(words) + 1}}


def _completion(model: str, words: list[str], finish_reason: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": "".join(words)}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": 1,
            "completion_tokens": len(words),
            "total_tokens": len(words) + 1,
        },
    }


def main(argv: list[str] | None = None) -> None:
    """Runs the server until SIGTERM or SIGINT; prints the base URL when ready."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--api-key", default=None, help="require this bearer token")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds per chunk")
    parser.add_argument(
        "--reply", choices=sorted(REPLIES), default="echo", help="how the answer is made"
    )
    args = parser.parse_args(argv)
    server = FakeOpenAI(
        host=args.host,
        port=args.port,
        model=args.model,
        api_key=args.api_key,
        reply=REPLIES[args.reply],
        chunk_delay=args.chunk_delay,
    )
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    print(server.start(), flush=True)
    stopping.wait()
    server.stop()


if __name__ == "__main__":
    main()
