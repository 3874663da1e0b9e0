"""Metrics as an operator sees them: a real Prometheus scraping the whole stack.

The five services run as processes (``LocalStack``); Prometheus runs with the shipped
scrape configuration and alert rules, rendered for this test's ports and a 1 s scrape
interval, and the llm service answers from a fake OpenAI-compatible endpoint. One
high-quality Speak, one chat Speak and one Speak that fails in the tts stage later, the
values Prometheus holds must be exactly what happened; every ``/metrics`` page must pass
``promtool check metrics``; every metric the Grafana dashboard queries must exist.
"""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import grpc
import pytest
import yaml

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar_core.config import DEFAULT_METRICS_PORTS
from avatar_devtools.client import GatewayClient, SpeakResult
from avatar_devtools.fake_openai import FakeOpenAI
from avatar_devtools.stack import LocalStack, StackPorts
from tests.support.network import free_ports
from tests.support.promql import exposed_names, metric_names
from tests.support.tools import ROOT, system_tool

pytestmark = pytest.mark.slow

SERVICES = ["gateway", "llm", "tts", "animator", "enhancer", "asr"]
DEPLOY = ROOT / "deploy"
SCRAPE_INTERVAL = "1s"
TWO_SENTENCES = "Hello there. It is nice to meet you."
QUESTION = "What is a fjord?"
# Series Prometheus makes itself for every target, not found in any /metrics page.
PROMETHEUS_SERIES = {"up"}


def render_scrape_config(shipped: dict, metrics_ports: dict[str, int]) -> dict:
    """The shipped configuration with this machine's targets and a short interval."""
    config = copy.deepcopy(shipped)
    for key in ("scrape_interval", "scrape_timeout", "evaluation_interval"):
        config["global"][key] = SCRAPE_INTERVAL
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{metrics_ports[job['job_name']]}"]}]
    return config


class PrometheusApi:
    """The HTTP API of a running Prometheus."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> dict:
        """GETs an API path; returns the decoded JSON body."""
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:  # bad queries answer 400 with a JSON body
            return json.load(error)

    def value(self, expression: str) -> float:
        """Evaluates an expression that yields one series (or none: 0)."""
        body = self.get("/api/v1/query", query=expression)
        assert body["status"] == "success", body
        results = body["data"]["result"]
        assert len(results) <= 1, f"{expression} yields {len(results)} series"
        return float(results[0]["value"][1]) if results else 0.0

    def wait_until(self, expression: str, predicate, timeout: float = 30.0) -> float:
        """Polls an expression until ``predicate(value)``; returns the value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.value(expression)
            if predicate(value):
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"{expression} is still {value} after {timeout:.0f} s")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def fake_llm():
    """The model endpoint the llm service answers from."""
    server = FakeOpenAI()
    with server:
        yield server


@pytest.fixture(scope="module")
def stack(tmp_path_factory, fake_llm):
    root = tmp_path_factory.mktemp("ops-stack")
    ports = free_ports(2 * len(SERVICES))
    stack_ports = StackPorts(
        grpc=dict(zip(SERVICES, ports[: len(SERVICES)], strict=True)),
        metrics=dict(zip(SERVICES, ports[len(SERVICES) :], strict=True)),
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
def prometheus(stack, tmp_path_factory):
    binary = system_tool("prometheus")
    root = tmp_path_factory.mktemp("prometheus")
    shipped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config_dir = root / "config"
    (config_dir / "rules").mkdir(parents=True)
    for rules in (DEPLOY / "prometheus" / "rules").glob("*.yml"):
        (config_dir / "rules" / rules.name).write_text(rules.read_text())
    config_file = config_dir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(render_scrape_config(shipped, stack.ports.metrics)))
    (port,) = free_ports(1)
    log = (root / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = PrometheusApi(port)
    try:
        _wait_ready(api, process, root / "prometheus.log")
        # Every target scraped at least once, so the values before the Speak are known.
        api.wait_until(
            'count(up{job=~"gateway|llm|tts|animator|enhancer|asr"} == 1)', lambda v: v == 6
        )
        yield api
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(api: PrometheusApi, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{api.base}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"prometheus not ready after 30 s:\n{log.read_text()}")


TTFF = 'sum(avatar_time_to_first_frame_seconds_{part}{{job="gateway",quality="high"}})'
SYNTHESIZED = (
    'sum(grpc_server_handled_total{{job="tts",grpc_method="Synthesize",grpc_code="{code}"}})'
)
TTS_ERRORS = 'sum(avatar_errors_total{job="gateway",stage="tts",code="NOT_FOUND"})'
LLM_STAGE = 'sum(avatar_stage_seconds_{part}{{job="gateway",stage="llm"}})'


@dataclass
class Observed:
    """The Speak calls and what Prometheus held before and after them."""

    result: SpeakResult
    chat: SpeakResult
    failure: grpc.aio.AioRpcError
    before: dict[str, float]
    after: dict[str, float]
    buckets_before: dict[float, float]
    buckets_after: dict[float, float]
    live_sentences: int = 0


QUERIES = {
    "ttff_count": TTFF.format(part="count"),
    "ttff_sum": TTFF.format(part="sum"),
    "synthesized_ok": SYNTHESIZED.format(code="OK"),
    "synthesized_not_found": SYNTHESIZED.format(code="NOT_FOUND"),
    "synthesized_unknown": SYNTHESIZED.format(code="UNKNOWN"),
    "tts_errors": TTS_ERRORS,
    "chat_ok": 'sum(grpc_server_handled_total{job="llm",grpc_method="Chat",grpc_code="OK"})',
    "first_delta_count": 'sum(avatar_llm_time_to_first_delta_seconds_count{job="llm"})',
    "answer_characters": 'sum(avatar_llm_answer_characters_total{job="llm"})',
    "llm_stage_count": LLM_STAGE.format(part="count"),
    "llm_stage_sum": LLM_STAGE.format(part="sum"),
}


@pytest.fixture(scope="module")
def observed(stack, prometheus) -> Observed:
    before = {name: prometheus.value(query) for name, query in QUERIES.items()}
    buckets_before = _ttff_buckets(prometheus)
    result, chat, failure, live = asyncio.run(_speak_chat_and_fail(stack.gateway_address))
    # Every count was made before the calls returned: a scrape that began later has them all.
    finished = time.time()
    for service in SERVICES:
        prometheus.wait_until(f'timestamp(up{{job="{service}"}})', lambda v: v > finished)
    after = {name: prometheus.value(query) for name, query in QUERIES.items()}
    buckets_after = _ttff_buckets(prometheus)
    return Observed(
        result, chat, failure, before, after, buckets_before, buckets_after, live.sentences
    )


def _ttff_buckets(prometheus: PrometheusApi) -> dict[float, float]:
    """The gateway's high-quality time-to-first-frame buckets: upper bound -> count."""
    series = prometheus.get(
        "/api/v1/query",
        query='avatar_time_to_first_frame_seconds_bucket{job="gateway",quality="high"}',
    )["data"]["result"]
    return {float(s["metric"]["le"]): float(s["value"][1]) for s in series}


async def _speak_chat_and_fail(
    address: str,
) -> tuple[SpeakResult, SpeakResult, grpc.aio.AioRpcError, gateway_pb2.SpeakSummary]:
    photo = (resources.files("avatar_devtools") / "assets" / "sample_face.jpg").read_bytes()
    async with GatewayClient(address) as client:
        avatar = await client.create_avatar(photo, "ops")
        result = await client.speak(
            gateway_pb2.SpeakRequest(
                avatar_id=avatar.avatar_id, text=TWO_SENTENCES, quality=gateway_pb2.QUALITY_HIGH
            ),
            timeout=120,
        )
        chat = await client.speak(
            gateway_pb2.SpeakRequest(
                avatar_id=avatar.avatar_id, text=QUESTION, mode=gateway_pb2.SPEAK_MODE_CHAT
            ),
            timeout=120,
        )
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await client.speak(
                gateway_pb2.SpeakRequest(
                    avatar_id=avatar.avatar_id, text="Hello.", voice="no-such-voice"
                ),
                timeout=60,
            )
        # A short live session: its turn fills the Converse histograms and counters.
        live = await _converse_once(address, avatar.avatar_id)
    return result, chat, failed.value, live


async def _converse_once(address: str, avatar_id: str) -> gateway_pb2.SpeakSummary:
    async def requests():
        yield gateway_pb2.ConverseRequest(config=gateway_pb2.ConverseConfig(avatar_id=avatar_id))
        yield gateway_pb2.ConverseRequest(turn=gateway_pb2.ConverseTurn(text="Hello there."))

    async with grpc.aio.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        ended = [e async for e in stub.Converse(requests(), timeout=60) if e.HasField("turn_ended")]
    assert [e.turn_ended.outcome for e in ended] == [gateway_pb2.TURN_OUTCOME_DONE]
    return ended[0].turn_ended.summary


def test_shipped_scrape_config_has_one_job_per_service_at_its_default_port():
    promtool = system_tool("promtool")
    config_file = DEPLOY / "prometheus" / "prometheus.yml"
    checked = subprocess.run(
        [promtool, "check", "config", str(config_file)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout
    config = yaml.safe_load(config_file.read_text())
    targets = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets == {name: [f"{name}:{DEFAULT_METRICS_PORTS[name]}"] for name in SERVICES}
    rendered = render_scrape_config(config, dict.fromkeys(SERVICES, 1))
    assert rendered["rule_files"] == config["rule_files"]
    assert [job["job_name"] for job in rendered["scrape_configs"]] == list(targets)


def test_prometheus_holds_exactly_what_one_speak_did(observed):
    result, before, after = observed.result, observed.before, observed.after
    summary = result.summary
    assert summary.sentences == 2 and result.frames > 0
    # The gateway's time-to-first-frame histogram: one more observation, of this value.
    assert after["ttff_count"] - before["ttff_count"] == 1
    assert after["ttff_sum"] - before["ttff_sum"] == pytest.approx(
        summary.time_to_first_frame_seconds, rel=1e-9, abs=1e-12
    )
    # ... in exactly the buckets whose upper bound is at or above it.
    assert float("inf") in observed.buckets_after
    for bound, count in observed.buckets_after.items():
        added = count - observed.buckets_before.get(bound, 0.0)
        assert added == (1 if bound >= summary.time_to_first_frame_seconds else 0), bound
    # tts handled one Synthesize per sentence (the chat's and the live turn's too), and
    # refused the unknown voice once.
    spoken = summary.sentences + observed.chat.summary.sentences + observed.live_sentences
    assert after["synthesized_ok"] - before["synthesized_ok"] == spoken
    assert after["synthesized_not_found"] - before["synthesized_not_found"] == 1
    assert after["synthesized_unknown"] == before["synthesized_unknown"]
    # The gateway counted the failure under its stage and code.
    assert observed.failure.code() == grpc.StatusCode.NOT_FOUND
    assert after["tts_errors"] - before["tts_errors"] == 1


def test_prometheus_holds_exactly_what_one_chat_did(observed, fake_llm):
    chat, before, after = observed.chat, observed.before, observed.after
    asked = fake_llm.requests[-1]["messages"]
    assert QUESTION in asked[-1]["content"]
    answer = fake_llm.reply(asked)
    assert chat.summary.spoken_text == answer  # the avatar spoke the model's answer
    # llm served one Chat, streamed every character of the answer, timed its first delta.
    assert after["chat_ok"] - before["chat_ok"] == 1
    assert after["first_delta_count"] - before["first_delta_count"] == 1
    assert after["answer_characters"] - before["answer_characters"] == len(answer)
    # The gateway timed its llm stage once, with the seconds the summary reports.
    llm_seconds = {stage.stage: stage.seconds for stage in chat.summary.stages}["llm"]
    assert after["llm_stage_count"] - before["llm_stage_count"] == 1
    assert after["llm_stage_sum"] - before["llm_stage_sum"] == pytest.approx(
        llm_seconds, rel=1e-9, abs=1e-12
    )


def test_every_target_is_up_and_every_alert_rule_evaluates(observed, prometheus):
    for service in SERVICES:
        assert prometheus.value(f'up{{job="{service}"}}') == 1, service
    groups = prometheus.get("/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 6
    for rule in rules:
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
        assert rule["lastEvaluation"] > "2000", rule["name"]


def test_sync_queue_and_model_metrics_after_the_speak(observed, prometheus):
    sentences = observed.result.summary.sentences
    # Every sentence's audio and video ended within one frame (40 ms at 25 fps) of each other.
    assert prometheus.value('sum(avatar_av_offset_seconds_count{job="gateway"})') >= sentences
    within_a_frame = prometheus.value('sum(avatar_av_offset_seconds_bucket{le="0.04"})')
    assert within_a_frame == prometheus.value("sum(avatar_av_offset_seconds_count)")
    for service, model in (("tts", "espeak"), ("animator", "dlib_face_landmarks")):
        seconds = prometheus.value(f'avatar_model_load_seconds{{job="{service}",model="{model}"}}')
        assert seconds > 0, (service, model)
    assert prometheus.value('avatar_model_load_seconds{job="enhancer",model="opencv"}') > 0
    for service in SERVICES:
        assert prometheus.value(f'avatar_warm_up_seconds{{job="{service}"}}') > 0, service
    # Idle again: nothing waits or runs in any worker pool.
    assert prometheus.value("sum(avatar_queue_depth) + sum(avatar_workers_busy)") == 0
    assert prometheus.value('sum(avatar_workers{job="animator"})') >= 1
    # The Speak found the face CreateAvatar had prepared in the animator's cache.
    hits = 'sum(avatar_cache_lookups_total{job="animator",cache="prepared_faces",result="hit"})'
    assert prometheus.value(hits) >= 1
    # High quality: the still went through the enhancer, and the animator touched up its
    # moving regions once before drawing the frames from it (decision 14).
    assert prometheus.value('sum(avatar_enhancer_frames_total{job="enhancer"})') >= 1
    assert prometheus.value('sum(avatar_animator_touched_stills_total{job="animator"})') >= 1


def test_promtool_check_metrics_is_clean_on_every_service(stack, observed):
    promtool = system_tool("promtool")
    for service in SERVICES:
        port = stack.ports.metrics[service]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert b"avatar_" in text, service  # its own metrics beside the RPC ones, llm's too
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30
        )
        problems = (checked.stdout + checked.stderr).decode()
        assert checked.returncode == 0 and not problems.strip(), f"{service}: {problems}"


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "avatar.json").read_text())
    expressions = []

    def walk(panels):
        for panel in panels:
            expressions.extend(target["expr"] for target in panel.get("targets", []))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    return expressions


def _as_prometheus_query(expression: str) -> str:
    """Replaces the dashboard's Grafana variables with values Prometheus accepts."""
    return expression.replace("$__rate_interval", "30s").replace("$quality", ".*")


def test_every_metric_the_dashboard_queries_exists_in_a_live_scrape(stack, observed):
    present = set()
    for service in SERVICES:
        port = stack.ports.metrics[service]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        names, _declared_only = exposed_names(text.decode())
        present |= names
    queried = set()
    for expression in _dashboard_expressions():
        queried |= metric_names(expression)
    assert len(queried) >= 20
    missing = sorted(queried - present - PROMETHEUS_SERIES)
    assert not missing, f"the dashboard queries metrics no service exposes: {missing}"


def test_every_dashboard_query_runs_in_prometheus(observed, prometheus):
    for expression in _dashboard_expressions():
        body = prometheus.get("/api/v1/query", query=_as_prometheus_query(expression))
        assert body["status"] == "success", (expression, body.get("error"))
