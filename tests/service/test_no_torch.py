"""The serving process must not import torch or transformers: start ``rerank serve`` (the real CLI
entry point, uvicorn and all) in a fresh interpreter, score a request, then look at sys.modules."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from service.triton_server import free_port
from training.paths import PROJECT_ROOT

SCRIPT = textwrap.dedent("""
    import json, os, sys
    import httpx
    from tests.helpers.serve_thread import serve_in_thread

    repo, port = sys.argv[1], int(sys.argv[2])
    url = serve_in_thread(["--backend", "embedded", "--model-repository", repo, "--model-name", "rerank-student",
                           "--log-level", "warning"], port)
    r = httpx.post(url + "/rerank", json={"query": "cats", "documents": ["cats purr", "stocks fell"]})
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "optimum"))
    print(json.dumps({"status": r.status_code, "results": len(r.json()["results"]), "heavy": heavy,
                      "onnxruntime": "onnxruntime" in sys.modules}))
    sys.stdout.flush()
    os._exit(0)
""")


def test_rerank_serve_imports_neither_torch_nor_transformers(tiny_model_repository):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_model_repository), str(free_port())],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["status"] == 200 and report["results"] == 2
    assert report["onnxruntime"]  # it did serve with the embedded backend
    assert report["heavy"] == []
