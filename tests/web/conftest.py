"""Fixtures of the web tests: one stack and web front per module, a Chromium per module.

Every test here runs in the session's event loop: aioice (under aiortc) keeps one
process-wide lock for resolving the browser's mDNS candidates, bound to the first loop
that used it.
"""

from __future__ import annotations

import pytest_asyncio

from tests.web.harness import chromium, running_web, screenshot


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site(tmp_path_factory):
    """The stack and the web front, shared by a module's tests."""
    async with running_web(tmp_path_factory.mktemp("web"), max_upload_bytes=1024 * 1024) as web:
        yield web


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser():
    """Headless Chromium (Debian's) with a fresh profile."""
    async with chromium() as context:
        yield context


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser, site, request):
    """A new tab on the page; a screenshot of it is kept when the test ends."""
    tab = await browser.new_page()
    await tab.goto(site.url)
    yield tab
    await screenshot(tab, request.node.name)
    await tab.close()
