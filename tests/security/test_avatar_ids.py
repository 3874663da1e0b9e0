"""Avatar ids cannot reach outside the avatar store, whatever a caller puts in them."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import grpc
import pytest

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient
from avatar_gateway.store import AvatarMedia, AvatarRecord, AvatarStore
from tests.support.services import in_process_server

MEDIA = AvatarMedia(photo=b"photo", idle_clip_mp4=b"clip", poster_gif=b"GIF89a")


def _record(avatar_id: str, name: str) -> AvatarRecord:
    return AvatarRecord(
        avatar_id=avatar_id,
        display_name=name,
        created_unix_seconds=time.time(),
        content_hash="0" * 64,
        frame_width=64,
        frame_height=64,
    )


@pytest.fixture
def layout(tmp_path):
    """A store with one real avatar, and a look-alike avatar directory outside it."""
    store = AvatarStore(tmp_path / "data" / "avatars")
    real_id = AvatarStore.new_id()
    store.save(_record(real_id, "real"), MEDIA)
    victim = tmp_path / "data" / "victim"
    victim.mkdir()
    (victim / "meta.json").write_text(json.dumps(asdict(_record("0" * 16, "victim"))))
    for name, data in (("photo", b"secret"), ("idle.mp4", b"clip"), ("poster.gif", b"GIF89a")):
        (victim / name).write_bytes(data)
    return store, real_id, victim


def _hostile_ids(real_id: str, victim) -> list[str]:
    return [
        "../victim",
        "../../data/victim",
        f"{real_id}/../../victim",
        str(victim),
        str(victim / "meta.json"),
        "%2e%2e%2fvictim",
        "..%2Fvictim",
        "..\\victim",
        f"{real_id}\x00../victim",
        "\x00",
        f"{real_id}\n",
        real_id.upper(),
        f" {real_id}",
        "a" * 100_000,
        "../" * 5_000 + "victim",
        "",
    ]


async def _status(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value


async def _speak(client: GatewayClient, avatar_id: str) -> None:
    request = gateway_pb2.SpeakRequest(avatar_id=avatar_id, text="Hello there.")
    async for _ in client.speak_stream(request, timeout=10):
        pass


async def test_get_delete_and_speak_refuse_ids_that_leave_the_store(layout):
    store, real_id, victim = layout
    environment = {"AVATAR_GATEWAY_AVATAR_DIR": str(store.root)}
    errors = []
    async with (
        in_process_server("gateway", environment) as gateway,
        GatewayClient(f"127.0.0.1:{gateway.port}") as client,
    ):
        for avatar_id in _hostile_ids(real_id, victim):
            errors.append(await _status(client.get_avatar(avatar_id, include_media=True)))
            errors.append(await _status(client.delete_avatar(avatar_id)))
            errors.append(await _status(_speak(client, avatar_id)))
        still_there = await client.get_avatar(real_id)
    for error in errors:
        assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
        assert "unknown avatar" in error.details()
        assert len(error.details()) < 200  # a huge id is not echoed back whole
    assert still_there.display_name == "real"
    assert sorted(path.name for path in victim.iterdir()) == [
        "idle.mp4",
        "meta.json",
        "photo",
        "poster.gif",
    ]
    assert [record.avatar_id for record in store.list()] == [real_id]


async def test_malformed_ids_are_explained(layout):
    store, _, victim = layout
    environment = {"AVATAR_GATEWAY_AVATAR_DIR": str(store.root)}
    async with (
        in_process_server("gateway", environment) as gateway,
        GatewayClient(f"127.0.0.1:{gateway.port}") as client,
    ):
        malformed = await _status(client.get_avatar("../victim"))
        well_formed = await _status(client.get_avatar("0123456789abcdef"))
    assert "avatar ids are 16 lowercase hexadecimal digits" in malformed.details()
    assert well_formed.details() == "unknown avatar '0123456789abcdef'"
