"""The Grafana dashboard and provisioning files: consistent with each other and compose."""

from __future__ import annotations

import json

import yaml

from tests.support.promql import exposed_names, metric_names
from tests.support.tools import ROOT

GRAFANA = ROOT / "deploy" / "grafana"


def _dashboard() -> dict:
    return json.loads((GRAFANA / "dashboards" / "avatar.json").read_text())


def _panels(panels: list[dict]) -> list[dict]:
    found = []
    for panel in panels:
        found.append(panel)
        found.extend(_panels(panel.get("panels", [])))
    return found


def test_metric_names_are_found_in_promql_and_nothing_else():
    expression = (
        'sum by (job, le) (rate(a_bucket{job=~"gate|tts", x="y z"}[$__rate_interval]))'
        " / on (job) group_left (model) max without (pool) (b_total offset 5m)"
        " > bool 1e-3 unless histogram_quantile(0.9, c_bucket) or up"
    )
    assert metric_names(expression) == {"a_bucket", "b_total", "c_bucket", "up"}
    assert metric_names('count(up{job="tts"} == 0)') == {"up"}


def test_exposed_names_tell_samples_from_declared_families():
    text = (
        "# HELP a_total A counter.\n# TYPE a_total counter\n"
        "# HELP b_seconds A labelled histogram nothing observed.\n# TYPE b_seconds histogram\n"
        "# HELP c A gauge.\n# TYPE c gauge\nc 1.0\n"
    )
    present, declared = exposed_names(text)
    assert present == {"c"}
    assert declared == {"a_total", "b_seconds_bucket", "b_seconds_sum", "b_seconds_count"}


def test_dashboard_shows_what_operators_need():
    dashboard = _dashboard()
    panels = [panel for panel in _panels(dashboard["panels"]) if panel["type"] != "row"]
    ids = [panel["id"] for panel in _panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))
    expressions = " ".join(t["expr"] for panel in panels for t in panel["targets"])
    for needed in (
        "histogram_quantile(0.99, sum by (le) (rate(avatar_time_to_first_frame_seconds_bucket",
        "avatar_time_to_first_audio_seconds_bucket",
        "avatar_real_time_factor_bucket",
        "rate(avatar_frames_total",
        "avatar_errors_total",
        "avatar_stage_seconds_bucket",
        "avatar_av_offset_seconds_bucket",
        "avatar_speak_in_flight",
        "sum by (job, grpc_method) (rate(grpc_server_handled_total",
        "avatar_queue_depth",
        "avatar_model_load_seconds",
        "avatar_cache_lookups_total",
    ):
        assert needed in expressions, needed
    for panel in panels:
        assert panel["title"] and panel["description"], panel["id"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


def test_provisioning_points_at_the_dashboards_and_prometheus_compose_mounts():
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"]
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/avatar.yml").read_text())
    (provider,) = providers["providers"]
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    grafana_volumes = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in grafana_volumes
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana_volumes
    assert source["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert source["jsonData"]["timeInterval"] == scrape["global"]["scrape_interval"]
