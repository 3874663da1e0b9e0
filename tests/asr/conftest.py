"""One tts and one asr server in this process, shared by the asr tests."""

from __future__ import annotations

import grpc
import pytest_asyncio

from avatar.asr.v1 import asr_pb2_grpc
from avatar.tts.v1 import tts_pb2_grpc
from tests.support.services import in_process_server

IDLE_TIMEOUT_SECONDS = 1.0
MAX_STREAM_SECONDS = 120.0


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def asr_server():
    environment = {
        "AVATAR_ASR_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT_SECONDS),
        "AVATAR_ASR_MAX_STREAM_SECONDS": str(MAX_STREAM_SECONDS),
    }
    async with in_process_server("asr", environment) as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def asr(asr_server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{asr_server.port}") as channel:
        yield asr_pb2_grpc.AsrServiceStub(channel)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def tts():
    async with (
        in_process_server("tts") as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield tts_pb2_grpc.TtsServiceStub(channel)
