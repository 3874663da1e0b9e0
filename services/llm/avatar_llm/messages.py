"""The messages a chat request sends the model, checked and bounded (no gRPC here).

The service keeps no conversation state: a caller sends the conversation's earlier
messages with each question, and :func:`build_messages` turns them, the system prompt
and the question into the ``messages`` of an OpenAI chat request. It refuses what no
model should get (empty or over-long texts, unknown roles, a bad language tag) and
keeps only the conversation's last ``history_turns`` questions and what followed each.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_SYSTEM_PROMPT_CHARS = 16_000
MAX_HISTORY_MESSAGES = 200
"""Most earlier messages one request may carry (the model sees the last turns of them)."""
MAX_HISTORY_MESSAGE_CHARS = 16_000
"""Longest earlier message accepted: a question or an answer of any configured length."""
ROLES = ("user", "assistant")

# BCP 47 primary language subtags the prompt names in words; others are named by tag.
_LANGUAGE_NAMES = {
    "bs": "Bosnian",
    "cs": "Czech",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hr": "Croatian",
    "hu": "Hungarian",
    "it": "Italian",
    "ja": "Japanese",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "sl": "Slovenian",
    "sr": "Serbian",
    "uk": "Ukrainian",
    "zh": "Chinese",
}
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,4}")


class ChatError(Exception):
    """Base class of the errors a chat request can end with."""


class InvalidChatRequestError(ChatError):
    """The request itself is unusable (empty or over-long message, bad history or tag)."""


@dataclass(frozen=True, slots=True)
class HistoryMessage:
    """One earlier message of a conversation.

    Attributes:
        role: "user" (the person) or "assistant" (what the avatar said).
        text: What was said.
    """

    role: str
    text: str


@dataclass(frozen=True, slots=True)
class MessageLimits:
    """How much of a request the model may get.

    Attributes:
        max_message_chars: Longest question accepted.
        history_turns: Earlier questions (each with what followed it) the model sees.
    """

    max_message_chars: int = 4000
    history_turns: int = 10


def build_messages(
    message: str,
    history: Sequence[HistoryMessage],
    system_prompt: str,
    language: str | None,
    limits: MessageLimits,
) -> list[dict[str, str]]:
    """The ``messages`` of a chat completion request: system prompt, history, question.

    Raises:
        InvalidChatRequestError: Something in the request no model should get.
    """
    if not message.strip():
        raise InvalidChatRequestError("the message is empty")
    if len(message) > limits.max_message_chars:
        raise InvalidChatRequestError(
            f"the message has {len(message)} characters; "
            f"at most {limits.max_message_chars} are accepted"
        )
    if len(system_prompt) > MAX_SYSTEM_PROMPT_CHARS:
        raise InvalidChatRequestError(
            f"the system prompt has {len(system_prompt)} characters; "
            f"at most {MAX_SYSTEM_PROMPT_CHARS} are accepted"
        )
    _check_history(history)
    prompt = f"{system_prompt}\n\n{language_instruction(language)}" if language else system_prompt
    return [
        {"role": "system", "content": prompt},
        *(
            {"role": item.role, "content": item.text}
            for item in last_turns(history, limits.history_turns)
        ),
        {"role": "user", "content": message},
    ]


def last_turns(history: Sequence[HistoryMessage], turns: int) -> list[HistoryMessage]:
    """The part of ``history`` from its ``turns``-th last question on (all when fewer)."""
    if turns <= 0:
        return []
    questions = [index for index, item in enumerate(history) if item.role == "user"]
    if len(questions) <= turns:
        return list(history)
    return list(history[questions[-turns] :])


def _check_history(history: Sequence[HistoryMessage]) -> None:
    if len(history) > MAX_HISTORY_MESSAGES:
        raise InvalidChatRequestError(
            f"the history has {len(history)} messages; at most {MAX_HISTORY_MESSAGES} are accepted"
        )
    for number, item in enumerate(history):
        if item.role not in ROLES:
            raise InvalidChatRequestError(
                f"history message {number} has no role: say whether the user or the "
                "assistant wrote it"
            )
        if not item.text.strip():
            raise InvalidChatRequestError(f"history message {number} is empty")
        if len(item.text) > MAX_HISTORY_MESSAGE_CHARS:
            raise InvalidChatRequestError(
                f"history message {number} has {len(item.text)} characters; "
                f"at most {MAX_HISTORY_MESSAGE_CHARS} are accepted"
            )


def language_instruction(language: str) -> str:
    """The sentence added to the system prompt to ask for answers in ``language``.

    Raises:
        InvalidChatRequestError: ``language`` is not a BCP 47 tag.
    """
    if len(language) > 35 or not _LANGUAGE_TAG.fullmatch(language):
        shown = language if len(language) <= 40 else f"{language[:40]}..."
        raise InvalidChatRequestError(
            f"language {shown!r} is not a BCP 47 tag such as 'en' or 'hr-HR'"
        )
    name = _LANGUAGE_NAMES.get(language.split("-")[0].lower())
    if name:
        return f"Always answer in {name}."
    return f"Always answer in the language with the BCP 47 tag {language}."
