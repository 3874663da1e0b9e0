"""deploy/ validated offline: kustomize output against the Kubernetes schemas, the compose
file against the compose spec, Dockerfiles through hadolint, and the rules we deploy by
(gRPC probes, drain longer than its grace, rollouts without downtime, non-root, read-only
root, GPUs only where they help)."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from avatar_core.config import DEFAULT_METRICS_PORTS, DEFAULT_PORTS
from avatar_devtools.stack import MODULES
from tests.support.tools import ROOT, kustomize, venv_tool

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.32.0"
SERVICES = ["gateway", "llm", "tts", "animator", "enhancer"]
GPU_SERVICES = {"tts", "animator", "enhancer"}
GPU = "nvidia.com/gpu"


def build(directory: Path) -> list[dict]:
    """``kustomize build`` of a directory, as parsed documents."""
    built = subprocess.run(
        [kustomize(), "build", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def by_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    """The documents of one kind, by name."""
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return build(K8S / "base")


@pytest.fixture(scope="module")
def base_with_gpu(tmp_path_factory) -> list[dict]:
    """The base plus only the GPU component (no overlay's namespace or registry)."""
    root = tmp_path_factory.mktemp("gpu")
    (root / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(K8S / "base", root)],
                "components": [os.path.relpath(K8S / "components" / "gpu", root)],
            }
        )
    )
    return build(root)


def _validate(document: dict) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("directory", ["base", "overlays/gpu"])
def test_kustomize_output_is_valid_kubernetes(directory):
    documents = build(K8S / directory)
    assert {doc["kind"] for doc in documents} >= {"Deployment", "Service", "PersistentVolumeClaim"}
    for document in documents:
        _validate(document)


def test_the_validator_rejects_what_kubernetes_would(base):
    deployment = copy.deepcopy(by_kind(base, "Deployment")["tts"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["prot"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)
    deployment = copy.deepcopy(by_kind(base, "Deployment")["tts"])
    deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = [0]
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)


def _env(container: dict) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


def _container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_probes_drain_and_security(base, service):
    deployment = by_kind(base, "Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"grpc": DEFAULT_PORTS[service], "metrics": DEFAULT_METRICS_PORTS[service]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": ports["grpc"]}, probe
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # The pod outlives the preStop pause plus the server's drain.
    pause = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep"
    drain = float(_env(container)[f"AVATAR_{service.upper()}_GRACE_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > float(pause[1]) + drain
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in volumes[tmp["name"]]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(ports["metrics"])
    assert container["image"].split(":")[0] == f"avatar-{service}"
    assert GPU not in str(deployment)


def test_every_service_is_headless_and_the_gateway_balances_over_it(base):
    deployments = by_kind(base, "Deployment")
    services = by_kind(base, "Service")
    assert set(deployments) == set(services) == set(SERVICES)
    for name, service in services.items():
        assert service["spec"]["clusterIP"] == "None"
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        grpc_port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
        assert grpc_port["port"] == DEFAULT_PORTS[name]
    gateway = _env(_container(deployments["gateway"]))
    for downstream in ("llm", "tts", "animator", "enhancer"):
        address = gateway[f"AVATAR_GATEWAY_{downstream.upper()}_ADDRESS"]
        assert address == f"dns:///{downstream}:{DEFAULT_PORTS[downstream]}"
    clients = (ROOT / "gateway/avatar_gateway/clients.py").read_text()
    assert '("grpc.lb_policy_name", "round_robin")' in clients
    store = by_kind(base, "PersistentVolumeClaim")["avatar-store"]
    assert store["spec"]["accessModes"] == ["ReadWriteMany"]


def _differences(before, after, path="") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        changes = []
        for key in sorted(set(before) | set(after)):
            changes += _differences(before.get(key), after.get(key), f"{path}/{key}")
        return changes
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        pairs = enumerate(zip(before, after, strict=True))
        return [change for i, (b, a) in pairs for change in _differences(b, a, f"{path}/{i}")]
    return [] if before == after else [path]


def test_gpu_component_adds_gpu_limits_node_selector_and_toleration_only(base, base_with_gpu):
    plain = {(d["kind"], d["metadata"]["name"]): d for d in base}
    gpu = {(d["kind"], d["metadata"]["name"]): d for d in base_with_gpu}
    assert set(plain) == set(gpu)
    changed = {}
    for key, document in gpu.items():
        differences = _differences(plain[key], document)
        if differences:
            changed[key] = differences
    spec = "/spec/template/spec"
    expected = [
        f"{spec}/containers/0/image",
        f"{spec}/containers/0/resources/limits/{GPU}",
        f"{spec}/nodeSelector",
        f"{spec}/tolerations",
    ]
    assert changed == {("Deployment", name): expected for name in GPU_SERVICES}
    for name in GPU_SERVICES:
        pod = gpu[("Deployment", name)]["spec"]["template"]["spec"]
        resources = pod["containers"][0]["resources"]
        assert resources["limits"][GPU] == 1 and GPU not in resources["requests"]
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert pod["tolerations"] == [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]
        assert pod["containers"][0]["image"] == f"avatar-{name}:0.1.0-cuda"


def test_gpu_overlay_example_uses_the_component(base):
    overlay = yaml.safe_load((K8S / "overlays/gpu/kustomization.yaml").read_text())
    assert "../../components/gpu" in overlay["components"]
    documents = build(K8S / "overlays/gpu")
    deployments = by_kind(documents, "Deployment")
    with_gpu = {
        name
        for name, deployment in deployments.items()
        if GPU in _container(deployment)["resources"].get("limits", {})
    }
    assert with_gpu == GPU_SERVICES
    assert all(d["metadata"]["namespace"] == overlay["namespace"] for d in deployments.values())


def _check_compose(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [venv_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_follows_the_compose_spec(tmp_path):
    checked = _check_compose(DEPLOY / "compose.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    broken["services"]["tts"]["deploy"]["resources"]["reservations"]["devices"][0]["count"] = [1]
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    assert _check_compose(tmp_path / "compose.yaml").returncode != 0


def test_compose_reserves_gpus_for_tts_animator_enhancer_and_probes_every_service():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {*SERVICES, "prometheus", "grafana"}
    reserved = set()
    for name in SERVICES:
        service = services[name]
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {})
        for device in devices.get("devices", []):
            assert device["capabilities"] == ["gpu"]
            reserved.add(name)
        probe = service["healthcheck"]["test"]
        assert probe == [
            "CMD",
            "python",
            "-m",
            "avatar_core.probe",
            f"127.0.0.1:{DEFAULT_PORTS[name]}",
        ]
        drain = float(service["environment"][f"AVATAR_{name.upper()}_GRACE_SECONDS"])
        assert float(service["stop_grace_period"].removesuffix("s")) > drain
        assert service["read_only"] is True and "/tmp" in service["tmpfs"]
        dockerfile = DEPLOY.parent / service["build"]["dockerfile"]
        assert dockerfile.exists(), dockerfile
    assert reserved == GPU_SERVICES
    gateway = services["gateway"]["environment"]
    for downstream in ("llm", "tts", "animator", "enhancer"):
        address = gateway[f"AVATAR_GATEWAY_{downstream.upper()}_ADDRESS"]
        assert address == f"{downstream}:{DEFAULT_PORTS[downstream]}"
    assert "./prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]


def _dockerfiles() -> list[tuple[str, str, Path]]:
    files = [(name, "cpu", DEPLOY / "docker" / f"{name}.Dockerfile") for name in SERVICES]
    files += [(n, "cuda", DEPLOY / "docker" / f"{n}.cuda.Dockerfile") for n in sorted(GPU_SERVICES)]
    return files


@pytest.mark.parametrize(("service", "variant", "path"), _dockerfiles())
def test_dockerfile_installs_the_service_extra_as_a_non_root_user(service, variant, path):
    text = path.read_text()
    final_stage = text.split("\nFROM ")[-1]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    (extra_arg,) = re.findall(r"^ARG EXTRAS=(\S+)$", final_stage, re.MULTILINE)
    assert service in extra_arg.split(",") and set(extra_arg.split(",")) <= set(extras)
    if variant == "cuda":
        assert final_stage.startswith("nvidia/cuda:")
    assert '"$1[${EXTRAS}]"' in final_stage  # the wheel built in the first stage, with its extra
    (user,) = re.findall(r"^USER (\S+)$", final_stage, re.MULTILINE)
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    port, metrics = DEFAULT_PORTS[service], DEFAULT_METRICS_PORTS[service]
    assert re.search(rf"^EXPOSE {port} {metrics}$", final_stage, re.MULTILINE)
    assert f'"avatar_core.probe", "127.0.0.1:{port}"' in final_stage
    assert f'ENTRYPOINT ["python", "-m", "{MODULES[service]}"]' in final_stage
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE):
        for name in source.split():
            assert (ROOT / name).exists(), name
            assert re.search(rf"^!{re.escape(name.rstrip('/'))}/?$", _dockerignore(), re.MULTILINE)


def _dockerignore() -> str:
    return (ROOT / ".dockerignore").read_text()


def test_dockerfiles_pass_hadolint():
    hadolint = venv_tool("hadolint")
    paths = [str(path) for _, _, path in _dockerfiles()]
    linted = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", *paths],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert linted.returncode == 0 and not linted.stdout.strip(), linted.stdout + linted.stderr
