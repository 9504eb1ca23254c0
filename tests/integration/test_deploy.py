"""deploy/: the Kubernetes manifests render with `kubectl kustomize`, validate against the
Kubernetes schemas (offline, kubernetes-validate), and say what the drain and the probes need; the
example alert rules parse, name only metrics the server exports, and pass `promtool check rules`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from app.config import ENV_PREFIX, Settings
from app.web.metrics import Metrics
from bench._replicas import find_tool

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.30.0"


def tool(name: str, package: str) -> str:
    """The command, else a failure where `make test-tools` could have installed it (apt-get is here),
    else a skip that names it."""
    found = find_tool(name)
    if found is None:
        if find_tool("apt-get"):
            pytest.fail(f"{name} not found: run `make test-tools` (scripts/ensure-test-tools.sh)", pytrace=False)
        pytest.skip(f"needs {name} (Debian's {package}; no apt-get here to install it)")
    return found


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    kubectl = tool("kubectl", "kubernetes-client")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy")], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def by_kind(documents, kind: str) -> dict:
    found = [doc for doc in documents if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def test_every_manifest_validates_against_the_kubernetes_schema(documents):
    import kubernetes_validate

    kinds = {doc["kind"] for doc in documents}
    assert {"Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap"} <= kinds
    for doc in documents:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_pod_is_probed_limited_and_locked_down(documents):
    pod = by_kind(documents, "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_grace_period_covers_the_pause_and_the_drain(documents):
    deployment = by_kind(documents, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    settings = by_kind(documents, "ConfigMap")["data"]
    pause = float(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = float(settings["FF_DRAIN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] >= pause + drain + 2


def test_the_config_map_sets_only_settings_the_server_reads(documents):
    data = by_kind(documents, "ConfigMap")["data"]
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert set(data) <= known, sorted(set(data) - known)
    Settings(**{key.removeprefix(ENV_PREFIX).lower(): value for key, value in data.items()})  # valid values


def test_the_ingress_keeps_websockets_open_longer_than_the_idle_timeout(documents):
    annotations = by_kind(documents, "Ingress")["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= Settings().idle_timeout_s


def routed(ingress: dict, path: str) -> bool:
    """Whether one of the Ingress's rules sends `path` to the service (Kubernetes' Exact and
    Prefix matching: a Prefix matches whole path elements)."""
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            if entry["pathType"] == "Exact" and path == entry["path"]:
                return True
            prefix = entry["path"].rstrip("/")
            if entry["pathType"] == "Prefix" and (path == prefix or path.startswith(prefix + "/")):
                return True
    return False


def route_paths(routes) -> list[str]:
    """Every path of an app's routes and mounts, included routers opened (none adds a prefix here)."""
    found = []
    for route in routes:
        if hasattr(route, "path"):
            found.append(route.path)
        else:  # an included router
            found += route_paths(route.original_router.routes)
    return found


# Operators' endpoints: the kubelet and Prometheus reach them on the pod, never through the Ingress.
INTERNAL = {"/healthz", "/readyz", "/metrics"}


def test_the_ingress_routes_every_readers_address_and_none_of_the_operators(documents):
    from app.web import create_app

    ingress = by_kind(documents, "Ingress")
    app = create_app()
    # Every route the app serves, with a concrete value for a path parameter, plus its mounts.
    paths = {path.replace("{slug}", "race").replace("{version}", "0") for path in route_paths(app.routes)}
    paths |= {"/static/embed.js", "/static/v/0/js/main.js"}
    public = {path for path in paths if path not in INTERNAL}
    assert {"/", "/ws/race", "/ws/digits", "/embed/race", "/oembed", "/api/goodness"} <= public
    assert [path for path in sorted(public) if not routed(ingress, path)] == []
    assert [path for path in sorted(INTERNAL) if routed(ingress, path)] == []
    assert INTERNAL <= paths  # the operators' endpoints exist (so keeping them in is a real choice)


ALERTS = ROOT / "deploy" / "alerts.yaml"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_series() -> set[str]:
    """Every series name the server's registry exposes (labelled ones too, before any sample)."""
    return {family.name + suffix for family in Metrics().registry.collect() for suffix in SUFFIXES[family.type]}


def test_the_alert_rules_name_only_metrics_the_server_exports():
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert rules and all({"alert", "expr", "labels", "annotations"} <= set(rule) for rule in rules)
    exported = exported_series()
    used = {name for rule in rules for name in re.findall(r"\bff_\w+", rule["expr"])}
    assert used and used <= exported, sorted(used - exported)
    # What the issue asks an operator to see: sessions, the engine's queue and frame lateness.
    assert {"ff_live_sessions", "ff_engine_runs_waiting", "ff_frame_lateness_seconds_bucket"} <= used


def test_promtool_accepts_the_alert_rules():
    promtool = find_tool("promtool")
    if promtool is None:
        if find_tool("apt-get"):
            pytest.fail("promtool not found: run `make test-tools` (scripts/ensure-test-tools.sh)", pytrace=False)
        pytest.skip("needs promtool (from Debian's prometheus package; no apt-get here)")
    check = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
