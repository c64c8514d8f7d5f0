"""deploy/: compose, Prometheus, Grafana and Kubernetes files agree with the code they deploy.

Parsed, not string-matched: every RERANK_* variable is a real setting, every metric the dashboard
queries is one the service declares (Triton's are checked against a live server in
tests/triton/test_deploy_metrics.py), probes hit real routes, selectors select, names resolve.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from service.metrics import Metrics
from service.model_repository import TritonModelConfig, parse_config
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
METRIC_RE = re.compile(r"\b(rerank_[a-z0-9_]+|nv_[a-z0-9_]+)\b")
BY_RE = re.compile(r"\bby\s*\(([^)]*)\)")


def load_yaml_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    objects = {}
    for resource in kustomization["resources"]:
        for doc in load_yaml_docs(DEPLOY / "k8s" / resource):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "rerank.json").read_text())


def service_metric_labels() -> dict[str, set[str]]:
    """Exported series name -> label names, for every metric service/metrics.py declares."""
    metrics = Metrics(process=False)
    found: dict[str, set[str]] = {}
    for attribute in vars(metrics).values():
        labels = set(getattr(attribute, "_labelnames", ()))
        kind = getattr(attribute, "_type", None)
        name = getattr(attribute, "_name", None)
        if kind is None or name is None:
            continue
        if kind == "counter":
            found[name + "_total"] = labels
        elif kind == "histogram":
            for suffix in ("_bucket", "_count", "_sum"):
                found[name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
        else:
            found[name] = labels
    return found


def assert_rerank_settings(env: dict) -> Settings:
    """Every RERANK_* key is a Settings field, and the values validate."""
    fields = {k: v for k, v in env.items() if k.startswith("RERANK_")}
    unknown = {k for k in fields if k.removeprefix("RERANK_").lower() not in Settings.model_fields}
    assert not unknown, f"not settings: {unknown}"
    return Settings(**{k.removeprefix("RERANK_").lower(): v for k, v in fields.items()})


def dashboard_exprs(dashboard: dict) -> list[str]:
    exprs = []
    for panel in dashboard["panels"]:
        exprs += [t["expr"] for t in panel.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if isinstance(v.get("query"), dict)]
    return exprs


# --- compose -------------------------------------------------------------------------------

def test_compose_triton_serves_the_repository_on_a_gpu(compose):
    triton = compose["services"]["triton"]
    assert triton["image"].startswith("nvcr.io/nvidia/tritonserver:") and triton["image"].endswith("-py3")
    assert "--model-repository=/models" in triton["command"]
    assert any(v.split(":")[:2] == ["../model_repository", "/models"] for v in triton["volumes"])
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    # The TensorRT engine cache volume is where the production config tells ORT to write.
    committed = parse_config((ROOT / "model_repository" / "rerank-student" / "config.pbtxt").read_text())
    cache = committed.optimization.execution_accelerators.gpu_execution_accelerator[0].parameters["trt_engine_cache_path"]
    assert cache == TritonModelConfig().tensorrt_cache_path
    assert any(v.endswith(":" + cache) for v in triton["volumes"])


def test_compose_service_points_at_triton_grpc(compose):
    rerank = compose["services"]["rerank"]
    assert (ROOT / "deploy" / rerank["build"]["context"] / rerank["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    settings = assert_rerank_settings(rerank["environment"])
    assert settings.backend == "triton" and settings.triton_protocol == "grpc"
    host, port = settings.triton_url.split(":")
    assert host == "triton" and f"127.0.0.1:{port}:{port}" in compose["services"]["triton"]["ports"]
    assert f"127.0.0.1:{settings.port}:{settings.port}" in rerank["ports"]
    assert rerank["depends_on"]["triton"]["condition"] == "service_healthy"


def test_prometheus_scrapes_service_and_triton(compose):
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in prom["scrape_configs"]}
    port = assert_rerank_settings(compose["services"]["rerank"]["environment"]).port
    assert targets["rerank"] == [f"rerank:{port}"]
    assert targets["triton"] == ["triton:8002"]
    mounted = {v.split(":")[0] for v in compose["services"]["prometheus"]["volumes"]}
    assert "./prometheus/prometheus.yml" in mounted


def test_grafana_provisioning_matches_dashboard(compose, dashboard):
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (ds,) = datasource["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/rerank.yml").read_text())["providers"][0]
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])}
    assert uids == {ds["uid"]}


# --- dashboard -----------------------------------------------------------------------------

def test_dashboard_queries_only_declared_service_metrics(dashboard):
    declared = service_metric_labels()
    used = {m for expr in dashboard_exprs(dashboard) for m in METRIC_RE.findall(expr) if m.startswith("rerank_")}
    assert used, "the dashboard queries no service metric"
    assert used <= set(declared), f"not in service/metrics.py: {sorted(used - set(declared))}"


def test_dashboard_groups_by_labels_the_metrics_have(dashboard):
    declared = service_metric_labels()
    for expr in dashboard_exprs(dashboard):
        names = [m for m in METRIC_RE.findall(expr) if m.startswith("rerank_")]
        if not names:
            continue
        available = set.union(*(declared[n] for n in names))
        for group in BY_RE.findall(expr):
            labels = {label.strip() for label in group.split(",") if label.strip()}
            assert labels <= available, f"{expr}: {labels - available} not labels of {names}"


def test_dashboard_covers_the_required_views(dashboard):
    exprs = " ".join(dashboard_exprs(dashboard))
    for needed in ("rerank_request_duration_seconds_bucket", "rerank_stage_duration_seconds_bucket",
                   "rerank_requests_in_flight", "rerank_errors_total", "rerank_batch_size_bucket",
                   "nv_inference_queue_duration_us", "nv_inference_compute_infer_duration_us"):
        assert needed in exprs
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le, route, variant)" in exprs
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


# --- kubernetes ----------------------------------------------------------------------------

def _container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_k8s_service_deployment(k8s):
    deployment = k8s[("Deployment", "rerank")]
    container = _container(deployment)
    (source,) = container["envFrom"]
    settings = assert_rerank_settings(k8s[("ConfigMap", source["configMapRef"]["name"])]["data"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == settings.port
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(settings.model_repository))
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in k8s
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.port) and annotations["prometheus.io/path"] == "/metrics"


def test_k8s_service_reaches_triton_grpc(k8s):
    settings = assert_rerank_settings(k8s[("ConfigMap", "rerank-settings")]["data"])
    assert settings.backend == "triton"
    host, port = settings.triton_url.split(":")
    service = k8s[("Service", host)]
    assert int(port) in [p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc"]
    triton = _container(k8s[("Deployment", "triton")])
    assert "--model-repository=/models" in triton["args"]
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"


def test_k8s_selectors_and_named_ports_resolve(k8s):
    for (kind, name), obj in k8s.items():
        if kind != "Service":
            continue
        deployment = k8s[("Deployment", name)]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert obj["spec"]["selector"].items() <= pod_labels.items()
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        container_ports = {p["name"] for p in _container(deployment)["ports"]}
        assert {p["targetPort"] for p in obj["spec"]["ports"]} <= container_ports


def test_k8s_hpa_and_service_monitors(k8s):
    hpa = k8s[("HorizontalPodAutoscaler", "rerank")]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) in k8s
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    for name in ("rerank", "triton"):
        monitor = k8s[("ServiceMonitor", name)]
        service = k8s[("Service", name)]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}


def test_dockerfile_runs_the_service():
    text = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["rerank", "serve"]' in text
    assert 'pip install ".[${VARIANT}]"' in text
    for source in re.findall(r"^COPY (\S+)", text, flags=re.M):
        assert (ROOT / source).exists(), source
