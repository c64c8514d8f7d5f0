"""The Triton metrics the Grafana dashboard queries exist on a real tritonserver."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards" / "rerank.json"
# Exported only where DCGM sees a GPU (the NGC container on a GPU node), never by a CPU server.
GPU_ONLY = {"nv_gpu_utilization", "nv_gpu_memory_used_bytes", "nv_gpu_memory_total_bytes"}


def test_dashboard_triton_metrics_are_exported(triton_server):
    dashboard = json.loads(DASHBOARD.read_text())
    used = {
        m for panel in dashboard["panels"] for t in panel.get("targets", [])
        for m in re.findall(r"\bnv_[a-z0-9_]+\b", t["expr"])
    }
    assert used
    text = urllib.request.urlopen(triton_server.metrics_url, timeout=10).read().decode()
    exported = set(re.findall(r"^# TYPE (nv_[a-z0-9_]+) ", text, flags=re.M))
    assert used - GPU_ONLY <= exported, f"not exported by Triton: {sorted(used - GPU_ONLY - exported)}"
    # The per-model series the dashboard groups by carry the labels it groups by.
    assert re.search(r'^nv_inference_queue_duration_us\{model="rerank-student",version="\d+"\}', text, flags=re.M)
