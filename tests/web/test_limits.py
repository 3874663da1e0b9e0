"""Limits and security of the web front: upload size, same origin, the gateway's token,
the session cap, and no leak after many connects and disconnects (Python peers)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import expect

from avatar_gateway.web.app import SESSIONS_KEY
from avatar_gateway.web.config import WebConfig
from avatar_gateway.web.server import WebServer
from avatar_gateway.web.session import CONNECT_TIMEOUT_SECONDS
from tests.reliability.harness import PHOTO
from tests.web.harness import running_web, screenshot
from tests.web.peer import OfferRefused, open_peer

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

TOKEN = "web-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GATEWAY_SESSIONS = 2
GATEWAY_RETRY_SECONDS = 7
UPLOAD_LIMIT = 1024 * 1024


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site(tmp_path_factory):
    """A gateway that requires a token and serves two live sessions at once."""
    gateway = {
        "AVATAR_GATEWAY_AUTH_TOKEN": TOKEN,
        "AVATAR_GATEWAY_MAX_SESSIONS": str(GATEWAY_SESSIONS),
        "AVATAR_GATEWAY_SESSION_RETRY_SECONDS": str(GATEWAY_RETRY_SECONDS),
    }
    async with running_web(
        tmp_path_factory.mktemp("limits"), {"gateway": gateway}, max_upload_bytes=UPLOAD_LIMIT
    ) as web:
        yield web


@pytest_asyncio.fixture(loop_scope="session")
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def avatar_id(site):
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{site.url}api/avatars", data=PHOTO, headers=AUTH) as response,
    ):
        assert response.status == 201, await response.text()
        return (await response.json())["id"]


async def eventually(check, timeout: float = 10.0) -> None:
    """Waits until ``check()`` is true (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def all_closed(site) -> None:
    """Waits until the web front and the gateway have both let every session go.

    A peer that closed before it connected is let go only at the connect timeout, so the
    wait allows that much and more.
    """
    try:
        await eventually(
            lambda: site.live_sessions() == 0 and site.converse_calls() == 0,
            timeout=CONNECT_TIMEOUT_SECONDS + 10,
        )
    except AssertionError:
        raise AssertionError(
            f"still open: {site.live_sessions()} web sessions, "
            f"{site.converse_calls()} Converse calls"
        ) from None


async def test_an_oversized_photo_gets_413_and_says_what_the_limit_is(site, http):
    photo = PHOTO + bytes(UPLOAD_LIMIT)
    async with http.post(f"{site.url}api/avatars", data=photo, headers=AUTH) as response:
        assert response.status == 413
        body = await response.json()
    assert "the largest accepted is 1.0 MB" in body["error"], body


async def test_posts_from_another_origin_are_refused(site, http, avatar_id):
    cross = {**AUTH, "Origin": "http://elsewhere.example"}
    for path, data in [("api/avatars", PHOTO), (f"api/sessions?avatar={avatar_id}", "v=0")]:
        async with http.post(f"{site.url}{path}", data=data, headers=cross) as response:
            assert response.status == 403, path
            assert "other sites" in (await response.json())["error"]
        assert "Access-Control-Allow-Origin" not in response.headers
    async with http.delete(f"{site.url}api/avatars/{avatar_id}", headers=cross) as response:
        assert response.status == 403
    site_fetch = {**AUTH, "Sec-Fetch-Site": "cross-site"}
    async with http.post(f"{site.url}api/avatars", data=PHOTO, headers=site_fetch) as response:
        assert response.status == 403
    same = {**AUTH, "Origin": site.url.rstrip("/")}
    async with http.post(f"{site.url}api/avatars", data=PHOTO, headers=same) as response:
        assert response.status == 201


async def test_without_the_gateways_token_the_api_answers_401(site, http, avatar_id):
    async with http.get(f"{site.url}api/avatars") as response:
        assert response.status == 401
        assert (await response.json())["code"] == "UNAUTHENTICATED"
    with pytest.raises(OfferRefused) as refused:
        await open_peer(http, site.url, {"avatar": avatar_id})
    assert refused.value.status == 401
    async with http.get(f"{site.url}api/avatars", headers=AUTH) as response:
        assert response.status == 200
        assert avatar_id in [a["id"] for a in (await response.json())["avatars"]]


async def test_past_the_gateways_session_cap_the_offer_gets_503_with_retry_after(
    site, http, avatar_id
):
    peers = [
        await open_peer(http, site.url, {"avatar": avatar_id}, AUTH)
        for _ in range(GATEWAY_SESSIONS)
    ]
    try:
        for peer in peers:  # both connected and streaming when the cap is reached
            await peer.wait_for_event(lambda event: event["type"] == "video_started")
        with pytest.raises(OfferRefused) as refused:
            await open_peer(http, site.url, {"avatar": avatar_id}, AUTH)
        assert refused.value.status == 503
        assert refused.value.headers["Retry-After"] == str(GATEWAY_RETRY_SECONDS)
        assert f"retry in {GATEWAY_RETRY_SECONDS} s" in refused.value.body["error"]
    finally:
        for peer in peers:
            await peer.close()
    await all_closed(site)


async def test_the_web_fronts_own_cap_answers_503_with_retry_after(site, http, avatar_id):
    config = WebConfig(
        port=0,
        metrics_port=-1,
        gateway_address=site.stack.address("gateway"),
        max_sessions=1,
        retry_after_seconds=3,
    )
    async with WebServer(config) as small:
        url = f"http://127.0.0.1:{small.port}/"
        first = await open_peer(http, url, {"avatar": avatar_id}, AUTH)
        await first.wait_for_event(lambda event: event["type"] == "video_started")
        try:
            with pytest.raises(OfferRefused) as refused:
                await open_peer(http, url, {"avatar": avatar_id}, AUTH)
        finally:
            await first.close()
            await eventually(lambda: not small.app[SESSIONS_KEY].live)
    await all_closed(site)
    assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "3"


async def test_an_interrupt_stops_the_turn_and_the_session_idles_on(site, http, avatar_id):
    peer = await open_peer(http, site.url, {"avatar": avatar_id}, AUTH)
    try:
        session = f"{site.url}{peer.location[1:]}"
        text = "This is a long answer. " * 12
        turn = {"text": text, "client_turn_id": "long"}
        async with http.post(f"{session}/turns", json=turn, headers=AUTH) as response:
            assert response.status == 202
        await peer.wait_for_event(lambda e: e["type"] == "speech_audio")
        async with http.post(f"{session}/interrupt", headers=AUTH) as response:
            assert response.status == 202
        ended = await peer.wait_for_event(lambda e: e["type"] == "turn_ended")
        assert (ended["client_turn_id"], ended["outcome"]) == ("long", "interrupted")
        frames = peer.video_frames
        await asyncio.sleep(1.0)
        assert peer.video_frames > frames, "the idle loop goes on"
        empty = {"text": "  ", "client_turn_id": "empty"}
        async with http.post(f"{session}/turns", json=empty, headers=AUTH) as response:
            assert response.status == 400
    finally:
        await peer.close()
    await all_closed(site)


async def _one_cycle(site, http, avatar_id: str, cycle: int) -> None:
    peer = await open_peer(http, site.url, {"avatar": avatar_id}, AUTH)
    await peer.wait_for_event(lambda event: event["type"] == "video_started")
    if cycle % 2:
        await peer.close()  # a dropped peer: the tab went away without a word
    else:
        async with http.delete(f"{site.url}{peer.location[1:]}", headers=AUTH) as response:
            assert response.status == 204
        await peer.close()
    await all_closed(site)


async def test_fifty_connects_and_disconnects_leave_no_session_task_or_stream(
    site, http, avatar_id
):
    await _one_cycle(site, http, avatar_id, 0)  # first connection: caches warm
    await asyncio.sleep(1.0)
    tasks_before = len(asyncio.all_tasks())
    for cycle in range(50):
        await _one_cycle(site, http, avatar_id, cycle)
    assert site.web_metric("avatar_web_live_sessions") == 0
    await eventually(lambda: site.downstream_calls() == 0)
    await eventually(lambda: len(asyncio.all_tasks()) <= tasks_before, timeout=15)


async def test_the_page_asks_for_the_token_and_says_when_it_is_busy(site, browser, http, avatar_id):
    page = await browser.new_page()
    await page.goto(site.url)
    dialog = page.locator(".token-dialog")
    await expect(dialog).to_be_visible()
    await page.locator(".token-input").fill(TOKEN)
    await page.get_by_role("button", name="Use token").click()
    await expect(page.locator('[data-testid="avatar-item"]').first).to_be_visible()
    peers = [
        await open_peer(http, site.url, {"avatar": avatar_id}, AUTH)
        for _ in range(GATEWAY_SESSIONS)
    ]
    try:
        for peer in peers:  # both connected and streaming when the cap is reached
            await peer.wait_for_event(lambda event: event["type"] == "video_started")
        await page.locator(f'[data-avatar-id="{avatar_id}"] .pick').click()
        await expect(page.get_by_test_id("error")).to_contain_text(
            f"busy, retry in {GATEWAY_RETRY_SECONDS} s"
        )
        await screenshot(page, "busy")
    finally:
        for peer in peers:
            await peer.close()
    # After the pause it connects by itself.
    await expect(page.locator(".screen")).to_have_attribute(
        "data-state", "idle", timeout=(GATEWAY_RETRY_SECONDS + 20) * 1000
    )
    await page.close()
