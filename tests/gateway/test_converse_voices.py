"""ListVoices through the gateway: the tts service's voices, or UNAVAILABLE naming tts."""

from __future__ import annotations

import contextlib

import grpc
import pytest

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from tests.support.network import free_ports
from tests.support.services import in_process_server


@contextlib.asynccontextmanager
async def _gateway(tmp_path, tts_address: str):
    environment = {
        "AVATAR_GATEWAY_TTS_ADDRESS": tts_address,
        "AVATAR_GATEWAY_AVATAR_DIR": str(tmp_path / "avatars"),
        "AVATAR_GATEWAY_CONNECT_WAIT_SECONDS": "0.2",
    }
    async with (
        in_process_server("gateway", environment) as gateway,
        grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel,
    ):
        yield gateway_pb2_grpc.GatewayServiceStub(channel)


async def test_list_voices_returns_the_tts_services_voices(tmp_path):
    async with in_process_server("tts") as tts:
        address = f"127.0.0.1:{tts.port}"
        async with grpc.aio.insecure_channel(address) as channel:
            direct = await tts_pb2_grpc.TtsServiceStub(channel).ListVoices(
                tts_pb2.ListVoicesRequest(), timeout=10
            )
        async with _gateway(tmp_path, address) as stub:
            voices = await stub.ListVoices(gateway_pb2.ListVoicesRequest(), timeout=10)
    assert [v.name for v in voices.voices] == [v.name for v in direct.voices]
    assert voices.default_voice == direct.default_voice
    by_name = {v.name: v for v in voices.voices}
    default = by_name[voices.default_voice]
    assert default.is_default and default.available and default.sample_rate >= 8000
    for voice in direct.voices:
        mine = by_name[voice.name]
        assert (mine.language, mine.sample_rate, mine.available) == (
            voice.language,
            voice.sample_rate,
            voice.available,
        )


async def test_list_voices_with_tts_down_is_unavailable_naming_tts(tmp_path):
    (dead_port,) = free_ports(1)
    async with _gateway(tmp_path, f"127.0.0.1:{dead_port}") as stub:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.ListVoices(gateway_pb2.ListVoicesRequest(), timeout=10)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "tts" in error.value.details()
