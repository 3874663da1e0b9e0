"""Answers of the fake OpenAI-compatible model that speech tests share."""

from __future__ import annotations

from avatar_devtools.fake_openai import echo_reply

STORY = (
    "Once upon a time there was a lighthouse keeper who lived alone on a rock. "
    "Every night he climbed the stairs and lit the lamp for the ships at sea. "
    "One stormy night a small boat came too close to the rocks. "
    "He rang the bell and waved his lantern until the boat turned away."
)
"""A long answer: time enough to interrupt it."""


def story_or_echo(messages) -> str:
    """:data:`STORY` when asked for a story, else the echo of what was said."""
    last = str(messages[-1].get("content", ""))
    return STORY if "story" in last.lower() else echo_reply(messages)
