"""The serving process must not import torch or transformers: start ``rerank serve`` (the real CLI
entry point, uvicorn and all) in a fresh interpreter, score a request, then look at sys.modules."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

from training.paths import PROJECT_ROOT

SCRIPT = textwrap.dedent("""
    import json, os, sys, threading, time
    import httpx
    from training.cli import main

    repo, port = sys.argv[1], sys.argv[2]
    args = ["serve", "--backend", "embedded", "--model-repository", repo, "--model-name", "rerank-student",
            "--host", "127.0.0.1", "--port", port, "--log-level", "warning"]
    server = threading.Thread(target=main, args=(args,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/ready").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not server.is_alive():
            raise SystemExit("server not ready")
        time.sleep(0.1)
    r = httpx.post(url + "/rerank", json={"query": "cats", "documents": ["cats purr", "stocks fell"]})
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "optimum"))
    print(json.dumps({"status": r.status_code, "results": len(r.json()["results"]), "heavy": heavy,
                      "onnxruntime": "onnxruntime" in sys.modules}))
    sys.stdout.flush()
    os._exit(0)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rerank_serve_imports_neither_torch_nor_transformers(tiny_model_repository):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_model_repository), str(_free_port())],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["status"] == 200 and report["results"] == 2
    assert report["onnxruntime"]  # it did serve with the embedded backend
    assert report["heavy"] == []
