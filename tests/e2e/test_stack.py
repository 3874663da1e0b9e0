"""End to end: the five servers as separate processes on TCP, driven as a client would."""

from __future__ import annotations

import asyncio
import io
import math
from importlib import resources

import av
import grpc
import numpy as np
import pytest
from PIL import Image

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient
from avatar_devtools.fake_openai import FakeOpenAI
from avatar_devtools.stack import LocalStack, StackPorts
from tests.support.network import free_ports, metric_value, scrape

pytestmark = pytest.mark.slow

SERVICES = ["gateway", "llm", "tts", "animator", "enhancer"]
FOUR_SENTENCES = (
    "Hello there. The weather is lovely today. "
    "Bob made a bumpy map of the pebbles. We should meet again soon."
)


@pytest.fixture(scope="module")
def fake_llm():
    server = FakeOpenAI()
    with server:
        yield server


@pytest.fixture(scope="module")
def stack(tmp_path_factory, fake_llm):
    root = tmp_path_factory.mktemp("stack")
    ports = free_ports(10)
    stack_ports = StackPorts(
        grpc=dict(zip(SERVICES, ports[:5], strict=True)),
        metrics=dict(zip(SERVICES, ports[5:], strict=True)),
    )
    environment = {
        "AVATAR_GATEWAY_AVATAR_DIR": str(root / "avatars"),
        "AVATAR_LLM_BASE_URL": fake_llm.base_url,
        "AVATAR_LLM_API_KEY": "test-key",
        "AVATAR_LLM_MODEL": "fake-model",
    }
    with LocalStack(stack_ports, environment, log_dir=root / "logs") as running:
        running.start()
        running.wait_until_serving(timeout=180)
        yield running


@pytest.fixture(scope="module")
def sample_avatar(stack):
    photo = (resources.files("avatar_devtools") / "assets" / "sample_face.jpg").read_bytes()

    async def create():
        async with GatewayClient(stack.gateway_address) as client:
            return await client.create_avatar(photo, "sample")

    return asyncio.run(create())


def _mp4_streams(data: bytes) -> dict:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        frames = sum(1 for _ in container.decode(video=0))
        return {
            "video_codec": video.codec_context.name,
            "audio_codec": audio.codec_context.name,
            "fps": float(video.average_rate),
            "video_seconds": float(video.duration * video.time_base),
            "audio_seconds": float(audio.duration * audio.time_base),
            "frames": frames,
        }


def test_create_avatar_returns_idle_clip_and_poster(sample_avatar):
    assert len(sample_avatar.avatar_id) == 16
    assert sample_avatar.frame_width > 0 and sample_avatar.frame_height > 0
    assert sample_avatar.poster_gif.startswith(b"GIF8")
    streams = _mp4_streams(sample_avatar.idle_clip_mp4)
    assert streams["video_codec"] == "h264" and streams["frames"] >= 25


async def test_speak_streams_audio_and_frames_in_order_and_mp4_is_valid(stack, sample_avatar):
    tts_metrics_port = stack.ports.metrics["tts"]
    handled_at_first_frame = []
    audio_offsets, frame_indices = [], []

    def watch(event, elapsed):
        kind = event.WhichOneof("event")
        if kind == "audio":
            audio_offsets.append((event.audio.sample_offset, len(event.audio.pcm) // 2))
        elif kind == "frames":
            if not frame_indices:
                samples = scrape(tts_metrics_port)
                handled_at_first_frame.append(
                    metric_value(samples, "grpc_server_handled_total", grpc_method="Synthesize")
                )
            frame_indices.extend(frame.index for frame in event.frames.frames)

    request = gateway_pb2.SpeakRequest(
        avatar_id=sample_avatar.avatar_id, text=FOUR_SENTENCES, include_mp4=True
    )
    handled_before = metric_value(
        scrape(tts_metrics_port), "grpc_server_handled_total", grpc_method="Synthesize"
    )
    async with GatewayClient(stack.gateway_address) as client:
        result = await client.speak(request, timeout=120, on_event=watch)

    assert [s.text for s in result.sentences] == [
        "Hello there.",
        "The weather is lovely today.",
        "Bob made a bumpy map of the pebbles.",
        "We should meet again soon.",
    ]
    # Streaming, not batch: the first frame arrived before the last sentence was synthesised.
    assert handled_at_first_frame[0] - handled_before < len(result.sentences)
    # Audio chunks are contiguous with increasing offsets; frames count up from 0.
    assert audio_offsets[0][0] == 0
    for (offset, length), (next_offset, _) in zip(audio_offsets, audio_offsets[1:], strict=False):
        assert next_offset == offset + length
    assert frame_indices == list(range(len(frame_indices)))
    sample_rate = result.started.sample_rate
    audio_seconds = len(result.audio) / 2 / sample_rate
    assert len(frame_indices) == math.ceil(audio_seconds * 25 - 1e-6)
    summary = result.summary
    assert summary.frames == len(frame_indices) and summary.sentences == 4
    assert abs(summary.audio_seconds - audio_seconds) < 1e-6
    assert 0 < summary.time_to_first_audio_seconds <= summary.time_to_first_frame_seconds
    assert {stage.stage for stage in summary.stages} >= {"tts", "animator", "mux"}
    # Sentence start positions add up with the audio.
    starts = [s.start_seconds for s in result.sentences]
    assert starts == sorted(starts) and starts[0] == 0.0
    streams = _mp4_streams(result.mp4)
    assert streams["video_codec"] == "h264" and streams["audio_codec"] == "aac"
    assert streams["fps"] == 25.0
    assert abs(streams["video_seconds"] - streams["audio_seconds"]) <= 0.040
    assert abs(streams["video_seconds"] - audio_seconds) <= 0.040
    assert streams["frames"] == len(frame_indices)
    # The audio really is speech, not silence.
    samples = np.frombuffer(bytes(result.audio), dtype="<i2")
    assert np.abs(samples).max() > 1000


async def test_high_quality_enhances_the_still_once_and_the_animator_touches_it_up_once(
    stack, sample_avatar
):
    enhancer_port, animator_port = stack.ports.metrics["enhancer"], stack.ports.metrics["animator"]

    def counts() -> tuple[float, float, float]:
        animator = scrape(animator_port)
        return (
            metric_value(scrape(enhancer_port), "avatar_enhancer_frames_total"),
            metric_value(animator, "avatar_animator_touched_stills_total"),
            metric_value(animator, "avatar_animator_frame_seconds_count", step="touchup"),
        )

    request = gateway_pb2.SpeakRequest(
        avatar_id=sample_avatar.avatar_id,
        text="Hi, how are you today?",
        quality=gateway_pb2.QUALITY_HIGH,
    )
    async with GatewayClient(stack.gateway_address) as client:
        enhanced_before, touched_before, _ = counts()
        result = await client.speak(request, timeout=120)
        enhanced_after, touched_after, _ = counts()
        again = await client.speak(request, timeout=120)
        enhanced_again, touched_again, per_frame = counts()
    assert result.frames > 0 and again.frames == result.frames
    # With the OpenCV enhancer the avatar's still goes through it once (on its first
    # high-quality request on this gateway), and no frame does: the animator touches up
    # the still's moving regions once and draws every frame from it (decision 14).
    assert enhanced_after - enhanced_before in (0, 1)
    assert enhanced_again == enhanced_after
    assert touched_after - touched_before in (0, 1)
    assert touched_again == touched_after >= 1
    assert per_frame == 0
    assert "enhancer" not in {stage.stage for stage in again.summary.stages}


async def test_chat_mode_speaks_the_llm_answer(stack, sample_avatar, fake_llm):
    request = gateway_pb2.SpeakRequest(
        avatar_id=sample_avatar.avatar_id,
        text="Tell me about lakes.",
        mode=gateway_pb2.SPEAK_MODE_CHAT,
        conversation_id="e2e-chat",
    )
    async with GatewayClient(stack.gateway_address) as client:
        result = await client.speak(request, timeout=120)
    assert result.started.mode == gateway_pb2.SPEAK_MODE_CHAT
    assert result.sentences and all(s.from_llm for s in result.sentences)
    assert "Tell me about lakes." in fake_llm.requests[-1]["messages"][-1]["content"]
    assert result.summary.spoken_text == " ".join(s.text for s in result.sentences)
    assert "llm" in {stage.stage for stage in result.summary.stages}


async def test_auto_mode_sends_questions_to_the_llm_and_statements_to_tts(
    stack, sample_avatar, fake_llm
):
    async with GatewayClient(stack.gateway_address) as client:
        asked = len(fake_llm.requests)
        question = await client.speak(
            gateway_pb2.SpeakRequest(
                avatar_id=sample_avatar.avatar_id,
                text="What is the capital of Croatia?",
                mode=gateway_pb2.SPEAK_MODE_AUTO,
            ),
            timeout=120,
        )
        statement = await client.speak(
            gateway_pb2.SpeakRequest(
                avatar_id=sample_avatar.avatar_id,
                text="The lake is calm tonight.",
                mode=gateway_pb2.SPEAK_MODE_AUTO,
            ),
            timeout=120,
        )
    assert question.started.mode == gateway_pb2.SPEAK_MODE_CHAT
    assert all(s.from_llm for s in question.sentences)
    assert statement.started.mode == gateway_pb2.SPEAK_MODE_SPEAK
    assert [s.text for s in statement.sentences] == ["The lake is calm tonight."]
    assert not any(s.from_llm for s in statement.sentences)
    assert len(fake_llm.requests) == asked + 1


@pytest.mark.parametrize(
    ("request_fields", "code", "message"),
    [
        ({"text": ""}, grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
        ({"text": "   \n "}, grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
        ({"avatar_id": "0123456789abcdef"}, grpc.StatusCode.NOT_FOUND, "unknown avatar"),
        ({"avatar_id": "../../etc/passwd"}, grpc.StatusCode.NOT_FOUND, "unknown avatar"),
    ],
)
async def test_bad_speak_requests_get_clear_statuses(
    stack, sample_avatar, request_fields, code, message
):
    fields = {"avatar_id": sample_avatar.avatar_id, "text": "Hello.", **request_fields}
    async with GatewayClient(stack.gateway_address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await client.speak(gateway_pb2.SpeakRequest(**fields), timeout=30)
    assert error.value.code() == code
    assert message in error.value.details()


async def test_bad_photos_get_clear_statuses(stack):
    blank = io.BytesIO()
    Image.new("RGB", (320, 320), (120, 160, 200)).save(blank, format="JPEG")
    async with GatewayClient(stack.gateway_address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as not_image:
            await client.create_avatar(b"these bytes are not an image", timeout=30)
        with pytest.raises(grpc.aio.AioRpcError) as no_face:
            await client.create_avatar(blank.getvalue(), timeout=30)
    assert not_image.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image" in not_image.value.details()
    assert no_face.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "face" in no_face.value.details()
