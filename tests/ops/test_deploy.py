"""deploy/ and the units' images validated offline: kustomize output against the Kubernetes
schemas, the compose file against the compose spec, Dockerfiles through hadolint and the
build context through ``.dockerignore``, and the rules we deploy by (gRPC probes, drain
longer than its grace, rollouts without downtime, client-side round robin, non-root,
read-only root, one unit per image, GPUs only where they help)."""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from avatar.enhancer.v1 import enhancer_pb2
from avatar_core.config import DEFAULT_METRICS_PORTS, DEFAULT_PORTS
from avatar_devtools.units import UNITS
from avatar_gateway.clients import EnhancerClient
from tests.support.services import in_process_server
from tests.support.tools import ROOT, kustomize, venv_tool

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.32.0"
SERVICES = ["gateway", "llm", "tts", "animator", "enhancer", "asr"]
GPU_SERVICES = {"tts", "animator", "enhancer"}
GPU = "nvidia.com/gpu"
# Each unit's folder, relative to the repository root (the images' build context).
FOLDERS = {name: "gateway" if name == "gateway" else f"services/{name}" for name in SERVICES}


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
    assert set(deployments) == {*SERVICES, "web"}
    assert set(services) == {*SERVICES, "redis", "web"}
    for name in SERVICES:
        service = services[name]
        assert service["spec"]["clusterIP"] == "None"
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        grpc_port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
        assert grpc_port["port"] == DEFAULT_PORTS[name]
    gateway = _env(_container(deployments["gateway"]))
    for downstream in ("llm", "tts", "animator", "enhancer", "asr"):
        address = gateway[f"AVATAR_GATEWAY_{downstream.upper()}_ADDRESS"]
        assert address == f"dns:///{downstream}:{DEFAULT_PORTS[downstream]}"
    store = by_kind(base, "PersistentVolumeClaim")["avatar-store"]
    assert store["spec"]["accessModes"] == ["ReadWriteMany"]


def test_the_gateway_replicas_share_conversations_in_a_probed_persistent_redis(base):
    gateway = by_kind(base, "Deployment")["gateway"]
    assert gateway["spec"]["replicas"] > 1
    assert _env(_container(gateway))["AVATAR_GATEWAY_CONVERSATIONS_URL"] == "redis://redis:6379/0"
    redis = by_kind(base, "StatefulSet")["redis"]
    service = by_kind(base, "Service")["redis"]
    assert redis["spec"]["serviceName"] == "redis" and service["spec"]["clusterIP"] == "None"
    pod = redis["spec"]["template"]["spec"]
    assert (
        service["spec"]["selector"].items()
        <= redis["spec"]["template"]["metadata"]["labels"].items()
    )
    container = _container(redis)
    assert container["readinessProbe"]["exec"]["command"] == ["redis-cli", "ping"]
    assert container["livenessProbe"]["tcpSocket"] == {"port": "redis"}
    assert [port["containerPort"] for port in container["ports"]] == [6379]
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in container["volumeMounts"]
    assert "--appendonly" in container["args"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


async def _enhance_nothing():
    yield enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig())
    yield enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd())


def _enhance_calls(server) -> float:
    """How many Enhance calls a server has started, from its own RPC metrics."""
    return sum(
        sample.value
        for family in server.registry.collect()
        for sample in family.samples
        if sample.name == "grpc_server_started_total" and sample.labels["grpc_method"] == "Enhance"
    )


async def test_a_gateway_client_spreads_its_calls_over_every_replica():
    """What the headless Services rely on: one target, several addresses, round robin."""
    async with in_process_server("enhancer") as first, in_process_server("enhancer") as second:
        client = EnhancerClient(f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}")
        try:
            # Round robin picks among connected replicas: a few calls may come before the
            # second connection is up, so allow for that on a busy machine.
            for calls in range(1, 41):
                events = [
                    response.WhichOneof("event")
                    async for response in client.enhance(_enhance_nothing(), timeout=10)
                ]
                assert events == ["started", "end"]
                answered = [_enhance_calls(first), _enhance_calls(second)]
                if calls >= 8 and min(answered) > 0:
                    break
        finally:
            await client.close()
    assert sum(answered) == calls
    assert min(answered) > 0, f"one replica took every call: {answered}"


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


def test_the_web_front_is_probed_over_http_non_root_and_a_client_of_the_gateway(base):
    deployment = by_kind(base, "Deployment")["web"]
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert container["image"].split(":")[0] == "avatar-web"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/api/config", "port": "http"}, probe
    assert (
        _env(container)["AVATAR_WEB_GATEWAY_ADDRESS"]
        == f"dns:///gateway:{DEFAULT_PORTS['gateway']}"
    )
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    service = by_kind(base, "Service")["web"]
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["web"]
    assert compose["build"]["dockerfile"] == "gateway/Dockerfile.web"
    assert compose["environment"]["AVATAR_WEB_GATEWAY_ADDRESS"] == "127.0.0.1:50051"


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
    assert set(services) == {*SERVICES, "web", "redis", "prometheus", "grafana"}
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
        variant = "Dockerfile.cuda" if name in GPU_SERVICES else "Dockerfile"
        assert service["build"] == {"context": "..", "dockerfile": f"{FOLDERS[name]}/{variant}"}
        assert (ROOT / service["build"]["dockerfile"]).exists()
    assert reserved == GPU_SERVICES
    gateway = services["gateway"]["environment"]
    for downstream in ("llm", "tts", "animator", "enhancer", "asr"):
        address = gateway[f"AVATAR_GATEWAY_{downstream.upper()}_ADDRESS"]
        assert address == f"{downstream}:{DEFAULT_PORTS[downstream]}"
    assert "./prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert gateway["AVATAR_GATEWAY_CONVERSATIONS_URL"] == "redis://redis:6379/0"
    assert services["gateway"]["depends_on"]["redis"] == {"condition": "service_healthy"}
    redis = services["redis"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "redis-data:/data" in redis["volumes"] and "--appendonly" in redis["command"]


def _dockerfiles() -> list[tuple[str, str, Path]]:
    files = [(name, "cpu", ROOT / FOLDERS[name] / "Dockerfile") for name in SERVICES]
    files += [(n, "cuda", ROOT / FOLDERS[n] / "Dockerfile.cuda") for n in sorted(GPU_SERVICES)]
    return files


def _stages(text: str) -> tuple[str, str]:
    """The build stage and the final stage of a two-stage Dockerfile."""
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) == 2, "a build stage and a final stage"
    return stages[0], stages[-1]


def _instructions(stage: str, name: str) -> list[str]:
    """Every ``name`` instruction of a stage, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", stage)
    return re.findall(rf"^{name} (.+)$", joined, re.MULTILINE)


@pytest.mark.parametrize(("service", "variant"), [file[:2] for file in _dockerfiles()])
def test_dockerfile_builds_and_installs_only_its_unit(service, variant):
    name = "Dockerfile.cuda" if variant == "cuda" else "Dockerfile"
    build_stage, final_stage = _stages((ROOT / FOLDERS[service] / name).read_text())
    folder = FOLDERS[service]
    # The build stage sees the stubs, the shared package and this unit: no other unit's code.
    copied = [line.split()[0] for line in _instructions(build_stage, "COPY")]
    assert sorted(copied) == sorted(["protos", "core", folder])
    (wheel,) = [run for run in _instructions(build_stage, "RUN") if "pip wheel" in run]
    assert "--no-deps" in wheel.split() and "--wheel-dir /wheels" in wheel
    assert sorted(wheel.split()[-3:]) == sorted(["./protos", "./core", f"./{folder}"])
    # The final stage installs those wheels and nothing else of this repository.
    assert "/wheels /wheels" in " ".join(_instructions(final_stage, "COPY --from=build"))
    other_copies = [c for c in _instructions(final_stage, "COPY") if not c.startswith("--from")]
    assert [c.split()[0] for c in other_copies] == ["LICENSE"]
    (install,) = [run for run in _instructions(final_stage, "RUN") if "pip install" in run]
    assert "/wheels/" in install and "http" not in install and "git+" not in install
    if service == "tts" and variant == "cuda":
        assert '"$1[coqui]"' in install and "/wheels/avatar_tts-" in install
        (apt,) = [run for run in _instructions(final_stage, "RUN") if "apt-get install" in run]
        assert "espeak-ng" in apt.split()
    else:
        assert "[" not in install, "only the CUDA tts image installs an extra (coqui)"
    if variant == "cuda":
        assert final_stage.startswith("nvidia/cuda:")
    (user,) = _instructions(final_stage, "USER")
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    port, metrics = DEFAULT_PORTS[service], DEFAULT_METRICS_PORTS[service]
    assert _instructions(final_stage, "EXPOSE") == [f"{port} {metrics}"]
    (healthcheck,) = _instructions(final_stage, "HEALTHCHECK")
    assert healthcheck.endswith(f'CMD ["python", "-m", "avatar_core.probe", "127.0.0.1:{port}"]')
    assert "PYTHONDONTWRITEBYTECODE=1" in " ".join(_instructions(final_stage, "ENV"))
    entrypoint = f'["python", "-m", "{UNITS[service].package}"]'
    assert _instructions(final_stage, "ENTRYPOINT") == [entrypoint]


def test_dockerfiles_pass_hadolint():
    hadolint = venv_tool("hadolint")
    paths = [str(path) for _, _, path in _dockerfiles()] + [str(ROOT / "gateway/Dockerfile.web")]
    linted = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", *paths],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert linted.returncode == 0 and not linted.stdout.strip(), linted.stdout + linted.stderr


# Docker's wildcards as regular expressions.
_WILDCARDS = {"**/": "(?:.*/)?", "/**": "(?:/.*)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str], str]]:
    """``.dockerignore`` as (excludes, regular expression, pattern), in file order.

    Docker's syntax: ``*`` and ``?`` stay within one path segment, ``**`` spans any
    number of them, ``!`` re-includes, and the last pattern that matches wins.
    """
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        tokens = re.split(r"(\*\*/|/\*\*|\*\*|\*|\?)", pattern)
        expression = "".join(_WILDCARDS.get(token, re.escape(token)) for token in tokens)
        rules.append((excludes, re.compile(expression), pattern))
    return rules


def _sent(path: str, rules) -> bool:
    """Whether the build context holds ``path`` (a pattern matching a parent counts)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    sent = True
    for excludes, expression, _ in rules:
        if any(expression.fullmatch(candidate) for candidate in candidates):
            sent = not excludes
    return sent


def _build_context(rules) -> set[str]:
    """The files ``docker build .`` would send from the repository root."""
    reincluded = [pattern for excludes, _, pattern in rules if not excludes]
    context = set()
    for directory, subdirectories, files in os.walk(ROOT):
        relative = Path(directory).relative_to(ROOT).as_posix().removeprefix(".")
        # Skip folders that are left out and that no "!" pattern reaches into.
        subdirectories[:] = [
            sub
            for sub in subdirectories
            if sub != ".git"
            and (
                _sent(f"{relative}/{sub}".lstrip("/"), rules)
                or any(p.startswith(f"{relative}/{sub}/".lstrip("/")) for p in reincluded)
            )
        ]
        for file in files:
            path = f"{relative}/{file}".lstrip("/")
            if _sent(path, rules):
                context.add(path)
    return context


def test_the_build_context_holds_what_the_images_copy_and_nothing_else():
    rules = _dockerignore_rules()
    context = _build_context(rules)
    assert {path.split("/")[0] for path in context} == {
        "LICENSE",
        "protos",
        "core",
        "services",
        "gateway",
    }
    unwanted = {"tests", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache"}
    for path in context:
        parts = path.split("/")
        assert not unwanted & set(parts), path
        assert not any(part.endswith(".egg-info") for part in parts), path
        assert not path.endswith(".pyc"), path
    # What setuptools would leave behind in a unit built outside an image stays out too.
    for leftover in ("build/lib/avatar_tts/__init__.py", "avatar_tts.egg-info/PKG-INFO"):
        assert not _sent(f"services/tts/{leftover}", rules), leftover
    expected = {"LICENSE", "protos/pyproject.toml", "protos/avatar/tts/v1/tts_pb2.py"}
    for name in SERVICES:
        package = UNITS[name].package
        for file in ("pyproject.toml", "README.md", f"{package}/__main__.py"):
            expected.add(f"{FOLDERS[name]}/{file}")
    expected |= {"core/pyproject.toml", "core/README.md", "core/avatar_core/probe.py"}
    assert expected <= context, expected - context
