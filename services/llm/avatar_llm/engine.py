"""Chat with any OpenAI-compatible model, streaming the answer (no gRPC here).

:class:`ChatEngine` sends the user's message, with the conversation's earlier
messages the caller sent and a system prompt that keeps answers short and speakable,
to an OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server, ...) and
yields the answer's text as it is written. It keeps no conversation state: whoever
calls it owns the conversation (the gateway, in its conversation store), so any
replica can answer any turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import openai

from avatar_llm.messages import (
    ChatError,
    HistoryMessage,
    InvalidChatRequestError,
    MessageLimits,
    build_messages,
)

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly person talking face to face with the user. Everything you write "
    "is spoken aloud by a talking avatar, so answer in one to three short sentences of "
    "plain spoken language. Never use markdown, lists, headings, emoji, code, tables or "
    "links; write what a person would say."
)
MAX_ANSWER_TOKENS = 32_768
TOKEN_LIMIT_PARAMETERS = ("max_tokens", "max_completion_tokens")


class NotConfiguredError(ChatError):
    """No model endpoint is configured.

    Attributes:
        missing: Names of the unset :class:`ChatSettings` fields ("base_url", "model").
    """

    def __init__(self, missing: tuple[str, ...]) -> None:
        super().__init__(f"no language model configured: {', '.join(missing)} not set")
        self.missing = missing


class UpstreamError(ChatError):
    """The model endpoint failed: unreachable, timed out or answered with an error.

    Attributes:
        kind: "connection", "timeout", "status" (an HTTP error) or "protocol".
        status_code: The HTTP status for "status" errors, else None.
    """

    def __init__(self, message: str, kind: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """How to reach the model and how to talk to it.

    Attributes:
        base_url: OpenAI-compatible API root, e.g. ``https://api.openai.com/v1``;
            empty means not configured.
        api_key: Bearer token; local servers usually accept any value.
        model: Model name at the endpoint; empty means not configured.
        system_prompt: Instructions sent before the conversation.
        max_tokens: Default upper bound on answer tokens.
        token_limit_parameter: Request field carrying the bound: "max_tokens" (most
            servers) or "max_completion_tokens" (newer OpenAI models).
        temperature: Sampling temperature; None leaves the server's default.
        timeout_seconds: Longest wait for the connection or the next piece of text.
        max_retries: Retries of a request that failed before any text arrived.
        history_turns: Earlier questions of the conversation (each with the answer
            that followed it) sent with each message; older ones are left out.
        max_message_chars: Longest user message accepted.
    """

    base_url: str = ""
    api_key: str = ""
    model: str = ""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = 200
    token_limit_parameter: str = "max_tokens"
    temperature: float | None = None
    timeout_seconds: float = 30.0
    max_retries: int = 1
    history_turns: int = 10
    max_message_chars: int = 4000

    @property
    def missing(self) -> tuple[str, ...]:
        """Names of the required fields that are empty."""
        return tuple(name for name in ("base_url", "model") if not getattr(self, name))


class ChatEngine:
    """Answers messages through an OpenAI-compatible chat completions endpoint.

    Args:
        settings: Endpoint, model, prompt and limits.
    """

    def __init__(self, settings: ChatSettings) -> None:
        if settings.token_limit_parameter not in TOKEN_LIMIT_PARAMETERS:
            raise ValueError(
                f"token_limit_parameter must be one of {TOKEN_LIMIT_PARAMETERS}, "
                f"got {settings.token_limit_parameter!r}"
            )
        self.settings = settings
        self._limits = MessageLimits(settings.max_message_chars, settings.history_turns)
        self._client: openai.AsyncOpenAI | None = None

    @property
    def model(self) -> str:
        """The model that answers."""
        return self.settings.model

    def client(self) -> openai.AsyncOpenAI:
        """The shared HTTP client, created on first use (inside the running event loop).

        Raises:
            NotConfiguredError: No base URL or model is set.
        """
        missing = self.settings.missing
        if missing:
            raise NotConfiguredError(missing)
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                base_url=self.settings.base_url,
                # Local servers need no key, but the client insists on one.
                api_key=self.settings.api_key or "unused",
                timeout=self.settings.timeout_seconds,
                max_retries=self.settings.max_retries,
            )
        return self._client

    def stream_answer(
        self,
        message: str,
        history: Sequence[HistoryMessage] = (),
        *,
        system_prompt: str | None = None,
        max_tokens: int | None = None,
        language: str | None = None,
    ) -> AnswerStream:
        """Starts answering ``message``; iterate the result for the answer's text deltas.

        Use it as ``async with engine.stream_answer(...) as answer: async for delta in
        answer: ...`` so the HTTP stream closes when the caller stops early.

        Args:
            message: The user's message.
            history: The conversation's earlier messages, oldest first; the model
                sees the last ``history_turns`` questions and what followed each.
            system_prompt: Replaces the configured system prompt for this call.
            max_tokens: Upper bound on answer tokens; None for the configured default.
            language: BCP 47 tag ("en", "hr", ...) of the language to answer in; None
                lets the model answer in the user's language.

        Raises:
            InvalidChatRequestError: Empty or over-long message, prompt or history
                message, a history message without a role, a bad tag, a token limit
                above :data:`MAX_ANSWER_TOKENS`.
            NotConfiguredError: No endpoint or model is configured.
        """
        if max_tokens is not None and not 0 < max_tokens <= MAX_ANSWER_TOKENS:
            raise InvalidChatRequestError(
                f"max_tokens must be 1-{MAX_ANSWER_TOKENS}, got {max_tokens}"
            )
        prompt = system_prompt or self.settings.system_prompt
        messages = build_messages(message, history, prompt, language, self._limits)
        if self.settings.missing:
            raise NotConfiguredError(self.settings.missing)
        request: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "stream": True,
            self.settings.token_limit_parameter: max_tokens or self.settings.max_tokens,
        }
        if self.settings.temperature is not None:
            request["temperature"] = self.settings.temperature
        return AnswerStream(self, request)

    async def list_models(self) -> list[str]:
        """Asks the endpoint which models it serves (a quick reachability check).

        Raises:
            NotConfiguredError: No endpoint or model is configured.
            UpstreamError: The endpoint cannot be reached or fails.
        """
        client = self.client().with_options(timeout=5.0, max_retries=0)
        try:
            page = await client.models.list()
        except openai.OpenAIError as error:
            raise self.upstream_error(error) from error
        return [model.id for model in page.data]

    async def close(self) -> None:
        """Closes the HTTP client's connections."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    def upstream_error(self, error: openai.OpenAIError) -> UpstreamError:
        """Turns an error of the ``openai`` client into an :class:`UpstreamError`."""
        where = f"the language model at {self.settings.base_url}"
        if isinstance(error, openai.APITimeoutError):
            seconds = self.settings.timeout_seconds
            return UpstreamError(f"{where} did not answer within {seconds:g} s", "timeout")
        if isinstance(error, openai.APIConnectionError):
            cause = error.__cause__ or error
            return UpstreamError(f"cannot reach {where}: {cause}", "connection")
        if isinstance(error, openai.APIStatusError):
            return UpstreamError(
                f"{where} answered HTTP {error.status_code}: {_status_message(error)}",
                "status",
                error.status_code,
            )
        return UpstreamError(f"{where} sent an unusable answer: {error}", "protocol")


@dataclass
class AnswerStream:
    """One answer being streamed: an async iterator of text deltas.

    After iteration ends, :attr:`text` is the whole answer and :attr:`finish_reason`
    says why the model stopped ("stop", "length", ...). Iterating (or :meth:`start`)
    raises :class:`UpstreamError` when the endpoint fails before or during the answer.
    """

    engine: ChatEngine
    request: dict[str, Any]
    text: str = ""
    finish_reason: str = ""
    _stream: Any = field(default=None, repr=False)
    _pieces: list[str] = field(default_factory=list, repr=False)
    _done: bool = False

    @property
    def model(self) -> str:
        """The model that answers."""
        return self.engine.model

    async def start(self) -> None:
        """Sends the request; returns once the endpoint has accepted it."""
        if self._stream is not None or self._done:
            return
        try:
            self._stream = await self.engine.client().chat.completions.create(**self.request)
        except openai.OpenAIError as error:
            self._done = True
            raise self.engine.upstream_error(error) from error

    def __aiter__(self) -> AnswerStream:
        return self

    async def __anext__(self) -> str:
        await self.start()
        while not self._done:
            try:
                chunk = await anext(self._stream)
            except StopAsyncIteration:
                await self._finish()
                break
            except openai.OpenAIError as error:
                await self.aclose()
                raise self.engine.upstream_error(error) from error
            for choice in chunk.choices:
                if choice.finish_reason:
                    self.finish_reason = choice.finish_reason
            delta = "".join(_content(choice) for choice in chunk.choices)
            if delta:
                self._pieces.append(delta)
                return delta
        raise StopAsyncIteration

    async def _finish(self) -> None:
        self._done = True
        self.text = "".join(self._pieces)
        self.finish_reason = self.finish_reason or "stop"
        await self.aclose()

    async def aclose(self) -> None:
        """Stops the answer and closes its HTTP stream (safe to call again)."""
        self._done = True
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.close()

    async def __aenter__(self) -> AnswerStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _content(choice: Any) -> str:
    """The text of a streamed choice; some servers send chunks without a delta."""
    delta = getattr(choice, "delta", None)
    return getattr(delta, "content", None) or ""


def _status_message(error: openai.APIStatusError) -> str:
    """The error message the endpoint gave, without the client's "Error code" prefix."""
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return error.message
