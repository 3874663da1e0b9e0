"""The metrics the READMEs name are the metrics the servers really expose, and back."""

from __future__ import annotations

import asyncio
import re
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.services import in_process_server
from tests.support.tools import ROOT

READMES = {
    "gateway": ROOT / "gateway/README.md",
    **{
        service: ROOT / f"services/{service}/README.md"
        for service in ("llm", "tts", "animator", "enhancer", "asr")
    },
}
DEPLOY_README = ROOT / "deploy" / "README.md"
# The gateway's token metric exists only where a token is required.
ENVIRONMENT = {"gateway": {"AVATAR_GATEWAY_AUTH_TOKEN": "s3cret-token-for-tests"}}
_NAME = re.compile(r"`((?:avatar|grpc_server)_[a-z_]*[a-z])\b(?![.\w])")
# Package names look like metric names; they are not metrics.
_UNIT_NAMES = ("core", "llm", "tts", "animator", "enhancer", "asr")
_PACKAGES = {f"avatar_{unit}" for unit in _UNIT_NAMES} | {
    "avatar_gateway",
    "avatar_devtools",
}


def documented(text: str) -> set[str]:
    """Metric names written in backticks (label sets and wildcards left out)."""
    return set(_NAME.findall(text)) - _PACKAGES


def _read(url: str) -> str:
    return urllib.request.urlopen(url, timeout=5).read().decode()


def _every_server_section() -> str:
    text = DEPLOY_README.read_text()
    return text.split("**Every server**", 1)[1].split("**", 1)[0]


async def _exposed(service: str) -> set[str]:
    """Family names as documented: counters with ``_total``, the rest as declared."""
    async with in_process_server(service, ENVIRONMENT.get(service)) as server:
        url = f"http://127.0.0.1:{server.metrics_port}/metrics"
        text = await asyncio.to_thread(_read, url)
    names = set()
    for family in text_string_to_metric_families(text):
        # Creation timestamps of unlabelled series come as families of their own.
        if family.name.startswith("process_") or family.name.endswith("_created"):
            continue
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


@pytest.fixture(scope="module")
def exposed() -> dict[str, set[str]]:
    return {service: asyncio.run(_exposed(service)) for service in READMES}


@pytest.mark.parametrize("service", list(READMES))
def test_service_readme_names_exactly_its_own_metrics(exposed, service):
    readme = documented(READMES[service].read_text())
    shared = documented(_every_server_section())
    assert readme, f"{READMES[service]} names no metrics"
    assert readme <= exposed[service], sorted(readme - exposed[service])
    own = {name for name in exposed[service] if name.startswith("avatar_")}
    undocumented = own - readme - shared
    assert not undocumented, f"{service} exposes metrics its README does not name: {undocumented}"


def test_deploy_readme_names_only_metrics_that_exist(exposed):
    everywhere = set().union(*exposed.values())
    named = documented(DEPLOY_README.read_text())
    assert len(named) >= 20
    assert named <= everywhere, sorted(named - everywhere)
    for service, names in exposed.items():
        assert documented(_every_server_section()) <= names, service
