"""The conversation stores, embedded SQLite and a real Redis, through the one interface."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import pytest

from avatar_gateway.conversations import (
    DEFAULT_SQLITE_NAME,
    ConversationLimits,
    ConversationStoreError,
    ConversationTurn,
    RedisConversationStore,
    SqliteConversationStore,
    open_conversation_store,
)
from tests.support.redis_server import running_redis

LIMITS = ConversationLimits(max_turns=3, idle_seconds=3600)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@contextlib.asynccontextmanager
async def opened(kind: str, tmp_path, redis_server, limits=LIMITS):
    if kind == "sqlite":
        store = SqliteConversationStore(tmp_path / "conversations.sqlite3", limits)
    else:
        store = RedisConversationStore(redis_server.url, limits)
    try:
        yield store
    finally:
        await store.close()


KINDS = ["sqlite", "redis"]


def _turn(number: int, **fields) -> ConversationTurn:
    return ConversationTurn(f"Question {number}?", f"Answer {number}.", **fields)


@pytest.mark.parametrize("kind", KINDS)
async def test_turns_come_back_in_order_and_only_the_last_ones_are_kept(
    kind, tmp_path, redis_server, request
):
    conversation = f"order-{request.node.name}"
    async with opened(kind, tmp_path, redis_server) as store:
        assert await store.history(conversation) == []
        for number in range(5):
            await store.append(conversation, _turn(number))
        history = await store.history(conversation)
        assert [turn.user_text for turn in history] == ["Question 2?", "Question 3?", "Question 4?"]
        assert history[-1].spoken_text == "Answer 4." and not history[-1].interrupted
        assert await store.history(f"other-{conversation}") == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_new_store_on_the_same_data_sees_every_turn(kind, tmp_path, redis_server, request):
    """What a restarted gateway, or another replica, sees."""
    conversation = f"restart-{request.node.name}"
    async with opened(kind, tmp_path, redis_server) as first:
        await first.append(conversation, _turn(1, interrupted=True))
    async with opened(kind, tmp_path, redis_server) as second:
        [turn] = await second.history(conversation)
    assert turn == _turn(1, interrupted=True, unix_seconds=turn.unix_seconds)
    assert turn.interrupted


@pytest.mark.parametrize("kind", KINDS)
async def test_concurrent_appends_each_land_whole(kind, tmp_path, redis_server, request):
    conversation = f"concurrent-{request.node.name}"
    limits = ConversationLimits(max_turns=50, idle_seconds=3600)
    async with opened(kind, tmp_path, redis_server, limits) as store:
        await asyncio.gather(*(store.append(conversation, _turn(n)) for n in range(20)))
        history = await store.history(conversation)
    assert sorted(turn.user_text for turn in history) == sorted(f"Question {n}?" for n in range(20))
    assert all(
        turn.spoken_text == turn.user_text.replace("Question", "Answer")[:-1] + "."
        for turn in history
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_forget_deletes_a_conversation(kind, tmp_path, redis_server, request):
    conversation = f"forget-{request.node.name}"
    async with opened(kind, tmp_path, redis_server) as store:
        await store.append(conversation, _turn(1))
        await store.forget(conversation)
        assert await store.history(conversation) == []
        await store.forget(conversation)  # unknown: nothing happens


async def test_sqlite_forgets_a_conversation_idle_longer_than_the_limit(tmp_path):
    now = [1000.0]
    store = SqliteConversationStore(
        tmp_path / "c.sqlite3", ConversationLimits(3, idle_seconds=60), clock=lambda: now[0]
    )
    await store.append("idle", _turn(1))
    await store.append("busy", _turn(1))
    now[0] += 50
    await store.append("busy", _turn(2))
    assert len(await store.history("idle")) == 1
    now[0] += 20  # "idle" is 70 s old, "busy" 20 s
    assert await store.history("idle") == []
    assert len(await store.history("busy")) == 2
    await store.append("busy", _turn(3))  # a write purges idle conversations for good
    await store.close()
    with sqlite3.connect(tmp_path / "c.sqlite3") as connection:
        ids = {row[0] for row in connection.execute("SELECT conversation_id FROM conversations")}
    assert ids == {"busy"}


async def test_redis_expires_a_conversation_after_its_idle_time(redis_server):
    store = RedisConversationStore(redis_server.url, ConversationLimits(3, idle_seconds=90))
    await store.append("ttl", _turn(1))
    ttl = await store._client.ttl("avatar:conversation:ttl")
    await store.close()
    assert 80 <= ttl <= 90


async def test_a_damaged_sqlite_file_is_an_error_naming_the_store_not_its_path(tmp_path):
    path = tmp_path / "broken.sqlite3"
    path.write_bytes(b"this is not a database at all" * 100)
    store = SqliteConversationStore(path, LIMITS)
    with pytest.raises(ConversationStoreError) as caught:
        await store.history("c")
    await store.close()
    message = str(caught.value)
    assert message.startswith("conversation store unavailable: the embedded store (sqlite): ")
    assert str(tmp_path) not in message


async def test_a_stopped_redis_is_an_error_naming_it_and_the_store_recovers(tmp_path):
    with running_redis(tmp_path / "redis") as server:
        store = RedisConversationStore(server.url, LIMITS, timeout_seconds=1.0)
        await store.append("outage", _turn(1))
        server.kill()
        with pytest.raises(ConversationStoreError) as caught:
            await store.history("outage")
        assert str(caught.value).startswith(
            f"conversation store unavailable: redis at 127.0.0.1:{server.port}: "
        )
        server.start()
        await store.append("outage", _turn(2))  # the same client, reconnected
        assert [t.user_text for t in await store.history("outage")] == [
            "Question 1?",
            "Question 2?",
        ]
        await store.close()


def test_the_url_picks_the_store(tmp_path):
    default = open_conversation_store("", tmp_path, LIMITS)
    assert isinstance(default, SqliteConversationStore)
    assert default._path == tmp_path / DEFAULT_SQLITE_NAME
    absolute = open_conversation_store(f"sqlite://{tmp_path}/x.db", tmp_path, LIMITS)
    assert absolute._path == tmp_path / "x.db"
    redis_store = open_conversation_store("redis://:secret@cache:6380/2", tmp_path, LIMITS)
    assert isinstance(redis_store, RedisConversationStore)
    assert redis_store.description == "redis at cache:6380"  # never the password
    with pytest.raises(ValueError, match="is not a conversation store"):
        open_conversation_store("memcached://x", tmp_path, LIMITS)
