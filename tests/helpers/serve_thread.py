"""Start ``rerank serve`` (the real CLI entry point) on a thread of the current process and wait for
/ready. For child scripts that then look at the process itself (e.g. which modules got imported),
so this module imports neither torch nor anything else heavy."""

from __future__ import annotations

import threading
import time

import httpx


def serve_in_thread(serve_args: list[str], port: int, timeout_s: float = 60.0) -> str:
    """Run ``rerank serve SERVE_ARGS --host 127.0.0.1 --port PORT`` on a daemon thread; returns its
    base URL once /ready answers 200, raises SystemExit if it does not in time or the thread dies."""
    from training.cli import main

    args = ["serve", *serve_args, "--host", "127.0.0.1", "--port", str(port)]
    server = threading.Thread(target=main, args=(args,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url + "/ready").status_code == 200:
                return url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not server.is_alive():
            raise SystemExit(f"rerank serve not ready on {url}")
        time.sleep(0.1)
