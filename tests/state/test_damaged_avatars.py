"""A damaged avatar store through the gateway: the damaged avatar is reported, the rest serve.

One healthy avatar is created; each test copies it into a second avatar and damages that
copy one way. The healthy one must still list and speak; the damaged one answers
DATA_LOSS naming it (or, missing only its idle clip or poster, gets them rendered again).
No status message names a file-system path or an exception class.
"""

from __future__ import annotations

import contextlib
import json
import shutil

import grpc
import pytest
import pytest_asyncio

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient
from avatar_devtools.samples import sample_face
from tests.support.services import in_process_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

COPY_ID = "00000000000000c0"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory):
    root = tmp_path_factory.mktemp("damage")
    async with contextlib.AsyncExitStack() as stack:
        environment = {
            "AVATAR_GATEWAY_AVATAR_DIR": str(root / "avatars"),
            "AVATAR_GATEWAY_IDLE_CLIP_SECONDS": "0.5",
            "AVATAR_GATEWAY_LLM_ADDRESS": "",
        }
        for service in ("tts", "animator"):
            server = await stack.enter_async_context(in_process_server(service))
            environment[f"AVATAR_GATEWAY_{service.upper()}_ADDRESS"] = f"127.0.0.1:{server.port}"
        server = await stack.enter_async_context(in_process_server("gateway", environment))
        client = await stack.enter_async_context(GatewayClient(f"127.0.0.1:{server.port}"))
        healthy = await client.create_avatar(sample_face(), "healthy", timeout=120)
        yield client, root / "avatars", healthy.avatar_id


@pytest.fixture
def damaged(gateway):
    """A copy of the healthy avatar under :data:`COPY_ID`; removed again afterwards."""
    _, avatars, healthy = gateway
    copy = avatars / COPY_ID
    shutil.copytree(avatars / healthy, copy)
    meta = json.loads((copy / "meta.json").read_text())
    (copy / "meta.json").write_text(json.dumps({**meta, "avatar_id": COPY_ID}))
    yield copy
    if copy.exists():
        shutil.rmtree(copy)
    for stray in avatars.glob("stray*"):
        stray.unlink()


def _damage(copy, fault: str) -> None:
    if fault == "damaged meta.json":
        (copy / "meta.json").write_bytes(b"\x00\x00 not json")
    elif fault == "missing photo":
        (copy / "photo").unlink()
    elif fault == "empty avatar directory":
        for path in copy.iterdir():
            path.unlink()


async def _speak(client, avatar_id: str):
    request = gateway_pb2.SpeakRequest(avatar_id=avatar_id, text="Still here.")
    return await client.speak(request, timeout=120)


async def _failure(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def _assert_says_nothing_of_the_insides(error: grpc.aio.AioRpcError, avatars) -> None:
    details = error.details()
    assert str(avatars) not in details and "avatars/" not in details and "/photo" not in details
    assert "Error" not in details and "<class" not in details and "Unexpected" not in details


async def _assert_healthy_one_serves(client, healthy: str) -> list[str]:
    listed = [avatar.avatar_id for avatar in await client.list_avatars()]
    assert healthy in listed
    assert (await _speak(client, healthy)).frames > 0
    return listed


@pytest.mark.parametrize("fault", ["damaged meta.json", "missing photo", "empty avatar directory"])
async def test_a_damaged_avatar_is_data_loss_and_the_others_serve(gateway, damaged, fault):
    client, avatars, healthy = gateway
    _damage(damaged, fault)
    listed = await _assert_healthy_one_serves(client, healthy)
    assert COPY_ID not in listed
    for call in (
        client.stub.GetAvatar(gateway_pb2.GetAvatarRequest(avatar_id=COPY_ID, include_media=True)),
        _speak(client, COPY_ID),
    ):
        error = await _failure(call)
        assert error.code() == grpc.StatusCode.DATA_LOSS, error.details()
        assert error.details().startswith(f"avatar {COPY_ID} is damaged (")
        assert "create it again" in error.details()
        _assert_says_nothing_of_the_insides(error, avatars)
    await client.delete_avatar(COPY_ID)  # the way out the message names
    assert not damaged.exists()


@pytest.mark.parametrize("lost", ["idle.mp4", "poster.gif"])
async def test_a_lost_idle_clip_or_poster_is_rendered_again_from_the_photo(gateway, damaged, lost):
    client, _, healthy = gateway
    (damaged / lost).unlink()
    listed = await _assert_healthy_one_serves(client, healthy)
    assert COPY_ID in listed
    avatar = await client.stub.GetAvatar(
        gateway_pb2.GetAvatarRequest(avatar_id=COPY_ID, include_media=True), timeout=120
    )
    assert avatar.poster_gif.startswith(b"GIF8") and len(avatar.idle_clip_mp4) > 1000
    assert (damaged / lost).read_bytes() == (
        avatar.idle_clip_mp4 if lost == "idle.mp4" else avatar.poster_gif
    )
    assert (await _speak(client, COPY_ID)).frames > 0


async def test_a_stray_file_in_the_store_root_changes_nothing(gateway, damaged):
    client, avatars, healthy = gateway
    (avatars / "stray notes.txt").write_text("left here by hand")
    (avatars / "stray0123456789a").write_bytes(b"\x89PNG")
    listed = await _assert_healthy_one_serves(client, healthy)
    assert sorted(listed) == sorted([healthy, COPY_ID])
    assert (await _speak(client, COPY_ID)).frames > 0
