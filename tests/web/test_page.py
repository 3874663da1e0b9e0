"""The page in real headless Chromium against a running stack, as a person uses it."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from playwright.async_api import expect

from tests.reliability.harness import PHOTO
from tests.web.harness import screenshot
from tests.web.probes import (
    AUDIO_PEAK,
    ERROR_TEXT,
    HISTORY,
    RESET_AUDIO_PEAK,
    START_AUDIO_PROBE,
    SYNC_PARTS,
    SYNC_STATE,
    VIDEO_STATE,
)

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

LONG_TEXT = (
    "This is a long answer that keeps going for quite a while. It has several sentences, "
    "so that there is plenty of time to interrupt it. The avatar should stop speaking as "
    "soon as the next message arrives. Nobody should hear the rest of this paragraph."
)
# RMS level of speech through the analyser; silence (the idle loop) stays near zero.
SPEECH_LEVEL = 0.01


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


async def video_state(page) -> dict:
    return await page.evaluate(VIDEO_STATE)


async def assert_playing(page, seconds: float = 1.0) -> None:
    """The video shows frames and its clock advances by about ``seconds``."""
    before = await poll(lambda: video_state(page), lambda s: s["videoWidth"] > 0)
    await asyncio.sleep(seconds)
    after = await video_state(page)
    assert after["currentTime"] > before["currentTime"] + seconds / 2, (before, after)


async def create_avatar_in_page(page, tmp_path) -> None:
    photo = tmp_path / "face.jpg"
    photo.write_bytes(PHOTO)
    await page.get_by_test_id("photo-input").set_input_files(str(photo))
    await page.get_by_test_id("create-avatar").click()


async def live_page(page, tmp_path):
    """The page showing a live avatar (the one already selected, or a new one)."""
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    if not await page.locator('[data-testid="avatar-item"]').count():
        await create_avatar_in_page(page, tmp_path)
    await expect(page.locator(".screen")).to_have_attribute(
        "data-state", re.compile("idle|speaking"), timeout=60_000
    )
    await poll(lambda: video_state(page), lambda s: s["videoWidth"] > 0)
    await expect(page.get_by_test_id("send")).to_be_enabled()
    return page


async def history(page) -> list[dict]:
    return await page.evaluate(HISTORY)


async def test_a_photo_becomes_a_live_idling_avatar(page, site, tmp_path):
    await create_avatar_in_page(page, tmp_path)
    # The poster stands in until media flows; then the live stream plays.
    await expect(page.locator(".screen .poster")).to_have_attribute("src", re.compile("^blob:"))
    state = await poll(lambda: video_state(page), lambda s: s["videoWidth"] > 0, timeout=60)
    assert (state["audioTracks"], state["videoTracks"]) == (1, 1)
    assert (state["videoWidth"], state["videoHeight"]) == (512, 512)
    await assert_playing(page, seconds=1.5)
    await expect(page.locator('[data-testid="avatar-item"]')).to_have_count(1)
    await screenshot(page, "live-idle")


async def test_a_sentence_is_heard_in_the_page(page, site, tmp_path):
    await live_page(page, tmp_path)
    assert await page.evaluate(START_AUDIO_PROBE) == "running"
    await asyncio.sleep(0.5)
    idle_level = await page.evaluate(AUDIO_PEAK)
    assert idle_level < SPEECH_LEVEL, "the idle loop is silent"
    await page.evaluate(RESET_AUDIO_PEAK)
    await page.get_by_test_id("text-input").fill("Hello there, it is good to see you.")
    await page.get_by_test_id("text-input").press("Enter")  # Enter sends
    await poll(lambda: page.evaluate(AUDIO_PEAK), lambda level: level > SPEECH_LEVEL)
    items = await poll(lambda: history(page), lambda h: h and h[-1]["state"] == "done")
    assert "first audio" in items[-1]["timings"] and "RTF" in items[-1]["timings"]
    await expect(page.get_by_test_id("download-mp4").last).to_be_visible()
    await assert_playing(page)


async def test_the_page_holds_the_picture_as_long_as_its_sound_takes(page, site, tmp_path):
    await live_page(page, tmp_path)
    parts = await page.evaluate(SYNC_PARTS)
    # Half the difference each period, never below nothing nor above a second.
    assert parts["holds"] == [50, 30, 0, 1000]
    # The video goes in a stream of its own (the browser's A/V sync off); all else stays.
    assert parts["answer"][5:7] == ["a=msid:stream-1 audio-1", "a=ssrc:11 msid:stream-1 audio-1"]
    assert parts["answer"][8:10] == [
        "a=msid:stream-1-picture video-1",
        "a=ssrc:22 msid:stream-1-picture video-1",
    ]
    state = await page.evaluate(SYNC_STATE)
    assert state["running"]
    assert state["streams"]["audio"] != state["streams"]["video"]
    # The live stream: the video comes to take as long from its arrival to the screen as
    # the audio to the speaker, by the hold the page gave the video receiver.
    state = await poll(
        lambda: page.evaluate(SYNC_STATE),
        lambda s: s["audioMs"] is not None and abs(s["audioMs"] - s["videoMs"]) <= 20,
    )
    assert state["holdMs"] > 0 and state["target"] == state["holdMs"], state


async def test_the_voice_of_a_sentence_is_made_while_it_is_typed(page, site, tmp_path):
    await live_page(page, tmp_path)
    used = site.stack.metric("gateway", "avatar_converse_drafts_total", outcome="used")
    box = page.get_by_test_id("text-input")
    await box.press_sequentially("Good morning to you.", delay=40)
    await asyncio.sleep(0.3)  # a person's moment before Enter
    await box.press("Enter")
    await poll(lambda: history(page), lambda h: h and h[-1]["state"] == "done")
    # The turn spoke what the gateway had synthesised from the box as it was typed.
    assert site.stack.metric("gateway", "avatar_converse_drafts_total", outcome="used") == used + 1


async def test_sending_over_a_long_answer_interrupts_it(page, site, tmp_path):
    await live_page(page, tmp_path)
    await page.get_by_test_id("text-input").fill(LONG_TEXT)
    await page.get_by_test_id("send").click()
    await expect(page.locator(".screen")).to_have_attribute("data-state", "speaking")
    await asyncio.sleep(0.5)
    await page.get_by_test_id("text-input").fill("Sorry, one more thing.")
    await page.get_by_test_id("send").click()
    items = await poll(lambda: history(page), lambda h: len(h) >= 2 and h[-1]["state"] == "done")
    assert [item["state"] for item in items[-2:]] == ["interrupted", "done"]
    await assert_playing(page)
    for histogram in ("barge_in", "turn_to_first_audio", "offer_to_first_frame"):
        assert site.web_metric(f"avatar_web_{histogram}_seconds_count") >= 1, histogram


async def test_a_file_that_is_not_an_image_shows_an_error_and_the_stream_plays_on(
    page, site, tmp_path
):
    await live_page(page, tmp_path)
    document = tmp_path / "notes.txt"
    document.write_text("these are notes, not a face\n" * 20)
    await page.get_by_test_id("photo-input").set_input_files(str(document))
    await page.get_by_test_id("create-avatar").click()
    await expect(page.get_by_test_id("error")).to_be_visible()
    message = await page.evaluate(ERROR_TEXT)
    assert "cannot be used" in message and "not an image" in message, message
    await assert_playing(page, seconds=1.5)


async def test_a_closed_tab_frees_its_session_and_its_stream(browser, site, tmp_path):
    tab = await browser.new_page()
    await tab.goto(site.url)
    await live_page(tab, tmp_path)
    assert site.live_sessions() >= 1
    await tab.close()
    await poll(lambda: _async(site.live_sessions()), lambda n: n == 0, timeout=15)
    await poll(lambda: _async(site.converse_calls()), lambda n: n == 0, timeout=15)


async def _async(value):
    return value
