"""The page's microphone when it cannot be used: denied, missing, or no speech input.

The web front here (``conftest.py``'s ``site``) stands in front of a stack without an
asr service, so speech input is not available on the server. Each test launches its own
Chromium, with its microphone allowed or not, present or not. Whatever goes wrong is
said in the ``error`` element while the live stream keeps playing.
"""

from __future__ import annotations

import wave

import numpy as np
import pytest
from playwright.async_api import expect

from tests.web.harness import screenshot
from tests.web.probes import ERROR_TEXT
from tests.web.test_page import assert_playing, create_avatar_in_page
from tests.web.test_speech import chromium_with_microphone

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


def tone_wav(path, seconds: float = 3.0, rate: int = 16_000):
    """A WAV of a loud 440 Hz tone: something for the microphone to send."""
    time = np.arange(round(seconds * rate)) / rate
    samples = (0.3 * 32767 * np.sin(2 * np.pi * 440 * time)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


async def _error_after_hands_free(page) -> str:
    await page.get_by_test_id("hands-free").click()  # it unchecks itself on failure
    await expect(page.get_by_test_id("error")).to_be_visible(timeout=20_000)
    return await page.evaluate(ERROR_TEXT)


async def test_a_denied_microphone_is_explained_and_the_stream_plays_on(site, tmp_path):
    async with chromium_with_microphone(tone_wav(tmp_path / "tone.wav"), allow=False) as context:
        page = await _live_tab(context, site, tmp_path)
        message = await _error_after_hands_free(page)
        assert "microphone is blocked" in message, message
        await expect(page.get_by_test_id("hands-free")).not_to_be_checked()
        await assert_playing(page)
        await screenshot(page, "speech-microphone-denied")


async def test_a_missing_microphone_is_explained_and_the_stream_plays_on(site, tmp_path):
    async with chromium_with_microphone(None, fake_device=False) as context:
        page = await _live_tab(context, site, tmp_path)
        message = await _error_after_hands_free(page)
        assert "No microphone was found" in message, message
        await assert_playing(page)


async def test_a_server_without_speech_input_says_so_and_the_stream_plays_on(site, tmp_path):
    async with chromium_with_microphone(tone_wav(tmp_path / "tone.wav")) as context:
        page = await _live_tab(context, site, tmp_path)
        message = await _error_after_hands_free(page)
        assert "Speech input is not available on this server" in message, message
        await expect(page.get_by_test_id("hands-free")).not_to_be_checked()
        await expect(page.get_by_test_id("mic")).to_be_disabled()
        await assert_playing(page, seconds=1.5)
        # Typing still works.
        await page.get_by_test_id("text-input").fill("Hello there.")
        await page.get_by_test_id("send").click()
        items = page.get_by_test_id("history-item")
        await expect(items.last).to_have_attribute("data-state", "done", timeout=60_000)
        await screenshot(page, "speech-not-available")


async def _live_tab(context, site, tmp_path):
    """A tab showing an avatar live (a new profile has none selected: the first is picked)."""
    tab = await context.new_page()
    await tab.goto(site.url)
    await expect(tab.locator("body")).to_have_attribute("data-ready", "true")
    if await tab.locator('[data-testid="avatar-item"]').count():
        await tab.locator('[data-testid="avatar-item"] .pick').first.click()
    else:
        await create_avatar_in_page(tab, tmp_path)
    await expect(tab.locator(".screen")).to_have_attribute("data-state", "idle", timeout=60_000)
    await expect(tab.get_by_test_id("hands-free")).to_be_enabled()
    return tab
