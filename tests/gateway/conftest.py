"""Fixtures of the gateway's tests."""

from __future__ import annotations

import pytest

from avatar_gateway.conversations import ConversationLimits, open_conversation_store
from avatar_gateway.turns import ChatTurns


@pytest.fixture
async def chat_turns(tmp_path):
    store = open_conversation_store("", tmp_path, ConversationLimits(), 2.0)
    yield ChatTurns(store)
    await store.close()
