"""Speech input that cannot be heard gets clear UserSpeech errors; the session goes on.

The stack's gateway is given an asr address where nothing listens (the asr service is
down), and checks the microphone's audio itself before forwarding any.
"""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tests.reliability.harness import PHOTO, running_stack
from tests.support.converse_client import LiveSession
from tests.support.network import free_ports

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory):
    """A gateway whose asr service is down, and an avatar id."""
    (nobody,) = free_ports(1)
    environments = {
        "gateway": {
            "AVATAR_GATEWAY_ASR_ADDRESS": f"127.0.0.1:{nobody}",
            "AVATAR_GATEWAY_CONNECT_WAIT_SECONDS": "0.2",
        }
    }
    stack_run = running_stack(tmp_path_factory.mktemp("asr-down"), environments)
    async with stack_run as stack, stack.channel("gateway") as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        avatar = await stub.CreateAvatar(gateway_pb2.CreateAvatarRequest(image=PHOTO), timeout=60)
        yield stack, stub, avatar.avatar_id


def _audio(pcm: bytes = bytes(640), rate: int = 16000, offset: int = 0):
    chunk = media_pb2.AudioChunk(pcm=pcm, sample_rate=rate, sample_offset=offset)
    return gateway_pb2.ConverseRequest(audio=chunk)


BAD_AUDIO = [
    ("no sample rate", [_audio(rate=0)], "sample_rate is required on the first chunk"),
    ("a rate too low", [_audio(rate=4000)], "sample_rate must be 8000-96000 Hz, got 4000"),
    ("an odd number of bytes", [_audio(pcm=bytes(641))], "641 bytes"),
    ("no samples", [_audio(pcm=b"")], "audio.pcm is empty"),
    ("a chunk too long", [_audio(pcm=bytes(2 * 48000))], "at most 2 s"),
    ("another rate", [_audio(), _audio(rate=48000, offset=320)], "differs from the session"),
    ("audio going back", [_audio(), _audio(offset=100)], "sample_offset 100 goes back"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [case[1:] for case in BAD_AUDIO],
    ids=[case[0] for case in BAD_AUDIO],
)
async def test_bad_audio_gets_a_clear_error_and_the_session_goes_on(gateway, messages, fragment):
    _, stub, avatar_id = gateway
    session = LiveSession(stub, gateway_pb2.ConverseConfig(avatar_id=avatar_id))
    await session.wait_for(lambda s: len(s.ticks) >= 2)
    for message in messages:
        session.send(message)
    await session.wait_for(lambda s: any(e.error_message for e in s.speech()), timeout=10)
    ticks = len(session.ticks)
    await session.wait_for(lambda s: len(s.ticks) >= ticks + 3)
    session.close()
    assert await session.finish() == grpc.StatusCode.OK
    errors = [e for e in session.speech() if e.kind == gateway_pb2.USER_SPEECH_KIND_ERROR]
    invalid = [e for e in errors if e.error_code == "INVALID_ARGUMENT"]
    assert len(invalid) == 1 and fragment in invalid[0].error_message, errors


async def test_the_asr_service_down_gives_an_error_and_text_turns_still_play(gateway):
    stack, stub, avatar_id = gateway
    errors_before = stack.metric("gateway", "avatar_errors_total", stage="asr", code="UNAVAILABLE")
    session = LiveSession(stub, gateway_pb2.ConverseConfig(avatar_id=avatar_id))
    await session.wait_for(lambda s: len(s.ticks) >= 2)
    for index in range(10):
        session.send(_audio(offset=320 * index))
    await session.wait_for(lambda s: any(e.error_code for e in s.speech()), timeout=20)
    session.turn("Hi!")
    ended = await session.wait_for_turn_end(1)
    session.close()
    assert await session.finish() == grpc.StatusCode.OK

    (error,) = session.speech()
    assert error.kind == gateway_pb2.USER_SPEECH_KIND_ERROR
    assert error.error_code == "UNAVAILABLE"
    assert "asr service unavailable" in error.error_message
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    # The stack serves the whole module: count this session's failure only.
    errors = stack.metric("gateway", "avatar_errors_total", stage="asr", code="UNAVAILABLE")
    assert errors - errors_before == 1
