"""Fast tests of the web front's parts: the audio buffer, the clock, errors, settings."""

from __future__ import annotations

import grpc
import pytest

from avatar.common.v1 import media_pb2
from avatar_core.config import ConfigError
from avatar_gateway.web.config import WebConfig
from avatar_gateway.web.errors import grpc_error_response, retry_after_seconds
from avatar_gateway.web.timeline import AudioBuffer, SessionClock


def chunk(offset: int, samples: int, value: int = 1000) -> media_pb2.AudioChunk:
    pcm = value.to_bytes(2, "little", signed=True) * samples
    return media_pb2.AudioChunk(pcm=pcm, sample_rate=24000, sample_offset=offset)


def test_the_audio_buffer_fills_gaps_with_silence_and_replaces_what_it_held_from_a_chunks_offset_on():
    buffer = AudioBuffer()
    buffer.add(chunk(100, 10), turn=0)
    buffer.add(chunk(115, 5, value=7), turn=1)  # five samples missing before it
    buffer.add(chunk(118, 4, value=9), turn=1)  # takes the place of the last two
    assert (buffer.start, buffer.end) == (100, 122)
    pcm, turn = buffer.take(108, 12)
    samples = [int.from_bytes(pcm[i : i + 2], "little", signed=True) for i in range(0, 24, 2)]
    assert samples == [1000, 1000, 0, 0, 0, 0, 0, 7, 7, 7, 9, 9]
    assert turn == 0
    assert buffer.start == 120 and buffer.turn_at(120) == 1


def test_the_audio_buffer_knows_which_stretches_are_idle():
    buffer = AudioBuffer()
    buffer.add(chunk(0, 960), turn=0)
    buffer.add(chunk(960, 960), turn=2)
    buffer.add(chunk(1920, 960), turn=0)
    assert buffer.idle(0, 960)
    assert not buffer.idle(900, 1000)
    assert buffer.idle(1920, 2880)


def test_reading_before_anything_arrived_gives_silence():
    buffer = AudioBuffer()
    pcm, turn = buffer.take(0, 4)
    assert pcm == bytes(8) and turn == 0


async def test_the_clock_moves_content_later_and_earlier_on_one_wire_time_line():
    clock = SessionClock()
    clock.start(2.0)
    assert clock.wire_seconds(2.0) == pytest.approx(2.0)
    clock.slip(0.02)
    assert clock.shift == pytest.approx(0.02)
    assert clock.wire_seconds(2.0) == pytest.approx(2.02)
    clock.catch_up(0.12)
    assert clock.shift == pytest.approx(-0.10)


class FakeError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailing=()) -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details)


def test_a_busy_gateway_becomes_503_with_its_retry_after():
    error = FakeError(grpc.StatusCode.RESOURCE_EXHAUSTED, "full", [("retry-after-seconds", "7")])
    assert retry_after_seconds(error) == 7
    response = grpc_error_response(error)
    assert response.status == 503 and response.headers["Retry-After"] == "7"
    milliseconds = FakeError(grpc.StatusCode.RESOURCE_EXHAUSTED, "", [("retry-after-ms", "1500")])
    assert retry_after_seconds(milliseconds) == 2


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.UNAVAILABLE, 502),
        (grpc.StatusCode.INTERNAL, 500),
    ],
)
def test_gateway_failures_map_to_http_statuses(code, status):
    assert grpc_error_response(FakeError(code, "something went wrong")).status == status


def test_settings_come_from_the_environment_and_the_command_line():
    config = WebConfig.from_env(
        {
            "AVATAR_WEB_PORT": "9000",
            "AVATAR_GATEWAY": "gw:1",
            "AVATAR_WEB_ICE_SERVERS": "stun:a:3478, turn:b:3478",
            "AVATAR_WEB_ICE_USERNAME": "u",
            "AVATAR_WEB_ICE_CREDENTIAL": "p",
        }
    )
    assert (config.port, config.gateway_address) == (9000, "gw:1")
    assert config.ice_servers_json() == [
        {"urls": "stun:a:3478"},
        {"urls": "turn:b:3478", "username": "u", "credential": "p"},
    ]
    assert "ice_credential" not in repr(config)
    assert config.with_arguments(["--port", "8181"]).port == 8181
    with pytest.raises(ConfigError, match="ICE_SERVERS"):
        WebConfig.from_env({"AVATAR_WEB_ICE_SERVERS": "http://nope"})
