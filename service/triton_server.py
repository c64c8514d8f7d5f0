"""Run the real ``tritonserver`` binary bundled in ``nvidia-pytriton`` on a CPU-only machine.

That build ships only Triton's python backend, so the production repository (onnxruntime backend,
GPU) is first turned into its CPU twin (``model_repository.build_cpu_repository``): same model
name, tensors and batching, ONNX Runtime inside the python backend. In production the NGC
container serves the production repository directly (``deploy/``); this class is for development,
CI and the tests.

What the bundled server needs (found by reading pytriton's own launcher and by experiment):

- ``LD_LIBRARY_PATH``: the base interpreter's ``LIBDIR`` (the stub embeds ``libpython3.X``; without
  it the loader picks whichever system libpython it finds) and ``nvidia_pytriton.libs``.
- the stub for this Python (``python_backend_stubs/3.X/triton_python_backend_stub``) beside
  ``libtriton_python.so`` in a backend folder passed as ``--backend-directory``.
- this environment's ``bin`` first on ``PATH``: the stub embeds Python in isolated mode (it ignores
  ``PYTHONPATH``) and takes its prefix from the first ``python3`` on ``PATH``; finding the venv's
  ``python3`` it reads ``pyvenv.cfg`` and gets the venv's site-packages (onnxruntime, numpy < 2).
  Without it the model fails with ``No module named 'onnxruntime'``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from service.model_repository import TritonModelConfig, build_cpu_repository, model_names


class TritonServerError(RuntimeError):
    """The server could not be started or did not become ready."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pytriton_root() -> Path:
    """``site-packages/pytriton`` found without importing it (its __init__ pulls in a lot)."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise TritonServerError("nvidia-pytriton is not installed: pip install '.[triton]'")
    return Path(next(iter(spec.submodule_search_locations)))


def tritonserver_binary() -> Path:
    return pytriton_root() / "tritonserver" / "bin" / "tritonserver"


def triton_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the bundled server and its python-backend stubs (see module docstring)."""
    env = dict(os.environ if base is None else base)
    libs = [sysconfig.get_config_var("LIBDIR"), str(pytriton_root().parent / "nvidia_pytriton.libs")]
    if env.get("LD_LIBRARY_PATH"):
        libs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = ":".join(p for p in libs if p)
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "python3").exists():
        raise TritonServerError(f"no python3 beside {sys.executable}: the python-backend stub would not find this environment")
    env["PATH"] = str(bin_dir) + os.pathsep + env.get("PATH", "")
    return env


def prepare_backend_directory(target: Path) -> Path:
    """``target/python/{libtriton_python.so, triton_python_backend_utils.py, stub}``; returns ``target``."""
    root = pytriton_root() / "tritonserver"
    stub = root / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}" / "triton_python_backend_stub"
    if not stub.is_file():
        raise TritonServerError(f"no python-backend stub for Python {sys.version_info.major}.{sys.version_info.minor}: {stub}")
    python_dir = target / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for src in (root / "backends" / "python" / "libtriton_python.so",
                root / "backends" / "python" / "triton_python_backend_utils.py", stub):
        shutil.copy2(src, python_dir / src.name)
    return target


class TritonServer:
    """A ``tritonserver`` process serving the CPU twin of a model repository.

    The twin's batching follows ``config`` if given, else each model's production ``config.pbtxt``;
    ``overrides`` (``TritonModelConfig`` fields such as ``cpu_threads``) apply on top.

    ``with TritonServer(repo, http_port=0) as server: server.grpc_url`` starts it, waits until the
    server and every model are ready, and stops it (SIGTERM, then SIGKILL) on exit. Port 0 picks a
    free port.
    """

    def __init__(
        self,
        model_repository: Path,
        *,
        models: list[str] | None = None,
        host: str = "127.0.0.1",
        http_port: int = 8000,
        grpc_port: int = 8001,
        metrics_port: int = 8002,
        work_dir: Path | None = None,
        config: TritonModelConfig | None = None,
        overrides: dict | None = None,
        startup_timeout_s: float = 120.0,
        stop_timeout_s: float = 30.0,
        log_verbose: int = 0,
        extra_args: list[str] | None = None,
    ) -> None:
        self.model_repository = Path(model_repository)
        self.models = list(models) if models else model_names(self.model_repository)
        if not self.models:
            raise FileNotFoundError(f"no model with a <version>/model.onnx under {self.model_repository}")
        self.host = host
        self.http_port = http_port or free_port(host)
        self.grpc_port = grpc_port or free_port(host)
        self.metrics_port = metrics_port or free_port(host)
        self._own_work_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir is not None else None
        self.config = config
        self.overrides = dict(overrides or {})
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.log_verbose = log_verbose
        self.extra_args = list(extra_args or [])
        self.process: subprocess.Popen | None = None
        self._log_file = None

    # --- addresses -------------------------------------------------------------------------
    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log_path(self) -> Path:
        assert self.work_dir is not None
        return self.work_dir / "tritonserver.log"

    @property
    def repository_path(self) -> Path:
        """The generated CPU repository actually served."""
        assert self.work_dir is not None
        return self.work_dir / "model_repository"

    def command(self) -> list[str]:
        assert self.work_dir is not None
        args = [
            str(tritonserver_binary()),
            f"--model-repository={self.repository_path}",
            f"--backend-directory={self.work_dir / 'backends'}",
            f"--http-address={self.host}", f"--http-port={self.http_port}",
            f"--grpc-address={self.host}", f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.host}", f"--metrics-port={self.metrics_port}",
            # Explicit control: exactly these models, and a model that fails to load fails the start.
            "--model-control-mode=explicit",
            *[f"--load-model={m}" for m in self.models],
            # Our configs are complete; auto-complete would spawn one extra stub per model.
            "--disable-auto-complete-config",
            "--exit-on-error=true",
            f"--log-verbose={self.log_verbose}",
        ]
        return args + self.extra_args

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> "TritonServer":
        if self.process is not None:
            raise TritonServerError(f"already running (pid {self.pid})")
        if self.work_dir is None:
            self.work_dir = Path(tempfile.mkdtemp(prefix="rerank-triton-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        build_cpu_repository(self.model_repository, self.repository_path, self.models, self.config, self.overrides)
        prepare_backend_directory(self.work_dir / "backends")
        self._log_file = open(self.log_path, "ab")
        # Own session: stopping can then also reach the python-backend stubs it spawned.
        self.process = subprocess.Popen(
            self.command(), env=triton_environment(), stdout=self._log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            self.wait_ready(self.startup_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _get(self, path: str, timeout: float = 2.0) -> int:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}{path}", timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError):
            return 0

    def is_ready(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        if self._get("/v2/health/ready") != 200:
            return False
        return all(self._get(f"/v2/models/{m}/ready") == 200 for m in self.models)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise TritonServerError(f"tritonserver exited (code {code}) before ready:\n{self.log_tail()}")
            if self.is_ready():
                return
            time.sleep(0.25)
        raise TritonServerError(f"tritonserver not ready after {timeout_s:.0f}s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except (OSError, AssertionError):
            return ""

    def stop(self) -> int | None:
        """SIGTERM the server (it unloads models and stops its stubs); SIGKILL its process group if it
        has not exited after ``stop_timeout_s``. Returns the exit code."""
        process, self.process = self.process, None
        code = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    # Still unreaped, so the group is surely the session Popen created for this
                    # server: the server and its own stubs, nothing else.
                    os.killpg(process.pid, signal.SIGKILL)
            code = process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_work_dir and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir = None
        return code

    def describe(self) -> dict:
        return {
            "pid": self.pid, "models": self.models, "http": self.http_url, "grpc": self.grpc_url,
            "metrics": self.metrics_url, "repository": str(self.repository_path) if self.work_dir else None,
        }

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"TritonServer({json.dumps(self.describe())})"
