"""The gateway servicer in-process, composed with real in-process downstream servers."""

from __future__ import annotations

import contextlib
from importlib import resources

import grpc
import pytest

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient
from avatar_devtools.fake_openai import FakeOpenAI
from tests.support.network import free_ports
from tests.support.services import in_process_server

PHOTO = (resources.files("avatar_devtools") / "assets" / "sample_face.jpg").read_bytes()


@contextlib.asynccontextmanager
async def gateway_with(tmp_path, services: dict[str, str], llm_environment=None):
    """A gateway whose downstream addresses are the given in-process servers ("" = none)."""
    async with contextlib.AsyncExitStack() as stack:
        addresses = {}
        for service in ("llm", "tts", "animator", "enhancer"):
            if services.get(service) == "run":
                environment = llm_environment if service == "llm" else None
                server = await stack.enter_async_context(in_process_server(service, environment))
                addresses[service] = f"127.0.0.1:{server.port}"
            else:
                addresses[service] = services.get(service, "")
        environment = {
            f"AVATAR_GATEWAY_{name.upper()}_ADDRESS": address for name, address in addresses.items()
        }
        environment["AVATAR_GATEWAY_AVATAR_DIR"] = str(tmp_path / "avatars")
        environment["AVATAR_GATEWAY_IDLE_CLIP_SECONDS"] = "1"
        gateway = await stack.enter_async_context(in_process_server("gateway", environment))
        client = await stack.enter_async_context(GatewayClient(f"127.0.0.1:{gateway.port}"))
        yield client


ALL = {"llm": "run", "tts": "run", "animator": "run", "enhancer": "run"}


async def test_avatar_lifecycle(tmp_path):
    async with gateway_with(tmp_path, ALL) as client:
        created = await client.create_avatar(PHOTO, "astronaut")
        assert created.poster_gif.startswith(b"GIF8") and created.idle_clip_mp4
        listed = await client.list_avatars()
        assert [a.avatar_id for a in listed] == [created.avatar_id]
        assert listed[0].display_name == "astronaut" and not listed[0].poster_gif
        fetched = await client.stub.GetAvatar(
            gateway_pb2.GetAvatarRequest(avatar_id=created.avatar_id, include_media=True)
        )
        assert fetched.idle_clip_mp4 == created.idle_clip_mp4
        await client.delete_avatar(created.avatar_id)
        assert await client.list_avatars() == []
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await client.delete_avatar(created.avatar_id)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_speak_low_quality_streams_synchronised_media(tmp_path):
    async with gateway_with(tmp_path, ALL) as client:
        avatar = await client.create_avatar(PHOTO)
        result = await client.speak(
            gateway_pb2.SpeakRequest(avatar_id=avatar.avatar_id, text="Hello. Bye now."), timeout=60
        )
    assert [s.text for s in result.sentences] == ["Hello.", "Bye now."]
    audio_seconds = len(result.audio) / 2 / result.started.sample_rate
    assert result.frames == round(audio_seconds * 25)
    assert result.summary.frames == result.frames


async def test_chat_without_a_configured_llm_fails_with_failed_precondition(tmp_path):
    async with gateway_with(tmp_path, ALL, llm_environment={"AVATAR_LLM_BASE_URL": ""}) as client:
        avatar = await client.create_avatar(PHOTO)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await client.speak(
                gateway_pb2.SpeakRequest(
                    avatar_id=avatar.avatar_id,
                    text="Why is the sky blue?",
                    mode=gateway_pb2.SPEAK_MODE_CHAT,
                ),
                timeout=30,
            )
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "AVATAR_LLM_BASE_URL" in error.value.details()


async def test_chat_with_no_llm_address_fails_with_failed_precondition(tmp_path):
    services = {**ALL, "llm": ""}
    async with gateway_with(tmp_path, services) as client:
        avatar = await client.create_avatar(PHOTO)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await client.speak(
                gateway_pb2.SpeakRequest(
                    avatar_id=avatar.avatar_id, text="Why?", mode=gateway_pb2.SPEAK_MODE_CHAT
                ),
                timeout=30,
            )
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "AVATAR_GATEWAY_LLM_ADDRESS" in error.value.details()


async def test_chat_with_llm_streams_the_answer(tmp_path):
    fake = FakeOpenAI()
    with fake:
        environment = {
            "AVATAR_LLM_BASE_URL": fake.base_url,
            "AVATAR_LLM_MODEL": "fake-model",
            "AVATAR_LLM_API_KEY": "key",
        }
        async with gateway_with(tmp_path, ALL, llm_environment=environment) as client:
            avatar = await client.create_avatar(PHOTO)
            result = await client.speak(
                gateway_pb2.SpeakRequest(
                    avatar_id=avatar.avatar_id, text="Hello robot", mode=gateway_pb2.SPEAK_MODE_CHAT
                ),
                timeout=60,
            )
    assert result.summary.spoken_text.startswith("You said: Hello robot.")
    assert all(s.from_llm for s in result.sentences)


async def test_a_stopped_stage_gives_unavailable_naming_it(tmp_path):
    (dead_port,) = free_ports(1)
    async with gateway_with(tmp_path, ALL) as client:
        avatar = await client.create_avatar(PHOTO)
    services = {**ALL, "tts": f"127.0.0.1:{dead_port}"}
    async with gateway_with(tmp_path, services) as client:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await client.speak(
                gateway_pb2.SpeakRequest(avatar_id=avatar.avatar_id, text="Hello."), timeout=30
            )
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "tts" in error.value.details()
