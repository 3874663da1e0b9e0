"""Talking to the page in real headless Chromium: the microphone is a WAV file.

The in-process stack runs the asr service too; its tts service renders each question
to a WAV that Chromium plays as its microphone (``--use-fake-device-for-media-stream
--use-file-for-fake-audio-capture``). The file loops, so it ends in a long silence: one
utterance is heard before it comes round again. The fake OpenAI-compatible model echoes
what it was told, or tells a long story when asked for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from playwright.async_api import expect

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar.tts.v1 import tts_pb2_grpc
from avatar_gateway.web.config import WebConfig
from avatar_gateway.web.server import WebServer
from tests.asr.speech import render, word_error_rate
from tests.reliability.harness import PHOTO, running_stack
from tests.support.replies import STORY, story_or_echo
from tests.web.harness import CHROMIUM, CHROMIUM_ARGS, WebStack, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

QUESTION = "Can you tell me about the dark blue sea?"
STORY_REQUEST = "Please tell me a long story."
INTERRUPTION = "Rice is often served in round bowls."
LEAD_SECONDS = 0.5
# Longer than any test here, so the file's loop never says its words twice.
TRAILING_SILENCE_SECONDS = 40.0
# The loudness meter's reading of speech (-60 dBFS reads 0, 0 dBFS reads 1).
SPEECH_METER_LEVEL = 0.3

METER_VALUE = "() => document.querySelector('[data-testid=\"mic-level\"]').value"
HISTORY = """() => [...document.querySelectorAll('[data-testid="history-item"]')].map(
  (item) => ({ state: item.dataset.state, source: item.dataset.source,
               text: item.querySelector('.text').textContent,
               answer: item.querySelector('.answer').textContent }))"""
METER_PROBE = """() => {
  const meter = document.querySelector('[data-testid="mic-level"]');
  window.micPeak = 0;
  setInterval(() => (window.micPeak = Math.max(window.micPeak, meter.value)), 20);
  window.speechEvents = [];
  window.addEventListener("avatar-event", ({ detail }) => {
    if (detail.type === "user_speech") window.speechEvents.push(detail);
  });
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def speech_site(tmp_path_factory):
    """The stack with asr, its web front, an avatar, and the tts stub to render speech."""
    async with running_stack(
        tmp_path_factory.mktemp("speech-web"), with_asr=True, llm_reply=story_or_echo
    ) as stack:
        async with stack.channel("gateway") as channel:
            stub = gateway_pb2_grpc.GatewayServiceStub(channel)
            await stub.CreateAvatar(gateway_pb2.CreateAvatarRequest(image=PHOTO), timeout=60)
        config = WebConfig(port=0, metrics_port=-1, gateway_address=stack.address("gateway"))
        async with WebServer(config) as web:
            yield WebStack(stack, web)


async def speech_wav(site: WebStack, path: Path, *parts: str | float) -> list[float]:
    """Writes a WAV of the tts voice saying each text part, a float part being silence (s).

    Returns:
        Where each part ends, seconds into the file.
    """
    pieces, rate = [], 0
    async with site.stack.channel("tts") as channel:
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        for part in parts:
            if isinstance(part, str):
                speech = await render(stub, part)
                rate = speech.sample_rate
                pieces.append(speech.samples)
            else:
                pieces.append(part)
    pieces = [np.zeros(round(p * rate), np.int16) if isinstance(p, float) else p for p in pieces]
    ends = [float(end) for end in np.cumsum([len(piece) for piece in pieces]) / rate]
    samples = np.concatenate(pieces)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return ends


@contextlib.asynccontextmanager
async def chromium_with_microphone(
    wav: Path | None, *, fake_device: bool = True, allow: bool = True
) -> AsyncIterator:
    """Headless Chromium whose microphone plays ``wav`` (looping), or none at all."""
    from playwright.async_api import async_playwright

    args = list(CHROMIUM_ARGS)
    if fake_device:
        args.append("--use-fake-device-for-media-stream")
    if allow:
        args.append("--use-fake-ui-for-media-stream")
    if wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={wav}")
    with tempfile.TemporaryDirectory(prefix="avatar-chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=args,
                headless=True,
                viewport={"width": 1280, "height": 900},
            )
            try:
                yield context
            finally:
                await context.close()


async def poll(read, check, timeout: float = 30.0, interval: float = 0.1):
    """Calls ``read()`` until ``check(value)`` holds; returns the value (fails on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        await asyncio.sleep(interval)


async def open_live_page(context, site: WebStack):
    """A tab showing the stack's avatar live and idling, its microphone controls enabled."""
    page = await context.new_page()
    await page.goto(site.url)
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    await page.locator('[data-testid="avatar-item"] .pick').first.click()
    await expect(page.locator(".screen")).to_have_attribute("data-state", "idle", timeout=60_000)
    await expect(page.get_by_test_id("mic")).to_be_enabled()
    await page.evaluate(METER_PROBE)
    return page


async def history(page) -> list[dict]:
    return await page.evaluate(HISTORY)


async def _playing(page, seconds: float = 1.0) -> None:
    read = "() => document.querySelector('[data-testid=\"live-video\"]').currentTime"
    before = await page.evaluate(read)
    await asyncio.sleep(seconds)
    assert await page.evaluate(read) > before + seconds / 2


async def test_a_question_said_hands_free_is_shown_and_answered(speech_site, tmp_path):
    wav = tmp_path / "question.wav"
    await speech_wav(speech_site, wav, LEAD_SECONDS, QUESTION, TRAILING_SILENCE_SECONDS)
    before = speech_site.web_metric("avatar_web_end_of_speech_to_first_audio_seconds_count")
    async with chromium_with_microphone(wav) as context:
        page = await open_live_page(context, speech_site)
        await page.get_by_test_id("hands-free").check()
        # Partials while it is said, then the final as the person's message.
        transcript = page.get_by_test_id("transcript")
        await expect(transcript).to_have_attribute("data-state", "partial", timeout=20_000)
        await expect(transcript).to_have_attribute("data-state", "final", timeout=20_000)
        items = await poll(
            lambda: history(page), lambda h: h and h[-1]["state"] == "done", timeout=60
        )
        await screenshot(page, "speech-answered")
        shown = await transcript.text_content()
        assert word_error_rate(QUESTION, shown) <= 0.1, shown
        (item,) = items
        assert item["source"] == "speech" and item["text"] == shown
        assert item["answer"].startswith("You said:"), item
        assert await page.evaluate("() => window.micPeak") > SPEECH_METER_LEVEL
        await _playing(page)
        assert not await page.get_by_test_id("error").is_visible()
        await page.close()
    after = speech_site.web_metric("avatar_web_end_of_speech_to_first_audio_seconds_count")
    assert after == before + 1


async def test_push_to_talk_sends_only_while_the_button_is_held(speech_site, tmp_path):
    wav = tmp_path / "hold.wav"
    ends = await speech_wav(
        speech_site, wav, LEAD_SECONDS, QUESTION, 2.0, INTERRUPTION, TRAILING_SILENCE_SECONDS
    )
    async with chromium_with_microphone(wav) as context:
        page = await open_live_page(context, speech_site)
        button = page.get_by_test_id("mic")
        box = await button.bounding_box()
        await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        # The file starts when the microphone opens, at the first press: hold it through
        # the question, let go in the silence after it; the sentence after that is not sent.
        await page.mouse.down()
        await expect(button).to_have_attribute("aria-pressed", "true")
        await poll(
            lambda: page.evaluate("() => window.micPeak"),
            lambda peak: peak > SPEECH_METER_LEVEL,
            timeout=10,
            interval=0.02,
        )
        await asyncio.sleep(ends[1] - ends[0] + 0.8)
        await page.mouse.up()
        await expect(button).to_have_attribute("aria-pressed", "false")
        items = await poll(
            lambda: history(page), lambda h: h and h[-1]["state"] == "done", timeout=60
        )
        assert items[0]["source"] == "speech"
        assert word_error_rate(QUESTION, items[0]["text"]) <= 0.1, items[0]["text"]
        # Released: the meter reads nothing, and the second sentence became no turn.
        await asyncio.sleep(max(0.0, ends[3] - ends[1]) + 3.0)
        assert await page.evaluate(METER_VALUE) == 0
        assert len(await history(page)) == 1
        await screenshot(page, "speech-push-to-talk")
        await page.close()


async def test_speech_over_a_long_answer_interrupts_it_and_is_answered(speech_site, tmp_path):
    wav = tmp_path / "barge-in.wav"
    await speech_wav(
        speech_site,
        wav,
        LEAD_SECONDS,
        STORY_REQUEST,
        7.0,  # the story plays loud a few seconds: the gateway learns its echo level
        INTERRUPTION,
        TRAILING_SILENCE_SECONDS,
    )
    barge_ins = speech_site.web_metric("avatar_web_voice_barge_ins_total")
    async with chromium_with_microphone(wav) as context:
        page = await open_live_page(context, speech_site)
        await page.get_by_test_id("hands-free").check()
        items = await poll(
            lambda: history(page),
            lambda h: len(h) >= 2 and h[-1]["state"] in ("done", "error"),
            timeout=90,
        )
        await screenshot(page, "speech-barge-in")
        first, second = items
        assert first["source"] == second["source"] == "speech"
        assert word_error_rate(STORY_REQUEST, first["text"]) <= 0.1, first["text"]
        assert first["state"] == "interrupted" and STORY.startswith(first["answer"][:40])
        assert word_error_rate(INTERRUPTION, second["text"]) <= 0.1, second["text"]
        assert second["state"] == "done" and second["answer"].startswith("You said:")
        # The second start stopped the story at once (a voice barge-in), or, when the
        # gateway's echo rule held that start, its transcript did as the next turn.
        starts = [
            event
            for event in await page.evaluate("() => window.speechEvents")
            if event["kind"] == "started"
        ]
        assert len(starts) == 2 and not starts[0]["barge_in"]
        assert starts[1]["barge_in"] or starts[1]["echo"], starts[1]
        await _playing(page)
        await page.close()
    voice_barge_ins = speech_site.web_metric("avatar_web_voice_barge_ins_total") - barge_ins
    assert voice_barge_ins == int(starts[1]["barge_in"])
