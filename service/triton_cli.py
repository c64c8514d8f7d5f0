"""``rerank triton ...``: serve a model repository with the bundled Triton, or generate its configs.

- ``rerank triton serve``        start tritonserver (CPU twin of the repository) until Ctrl-C
- ``rerank triton cpu-repo``     only write the CPU twin repository (python backend + ONNX Runtime)
- ``rerank triton write-config`` (re)write the production ``<model>/config.pbtxt`` (GPU, TensorRT)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_repository() -> Path:
    return Path(os.environ.get("RERANK_MODEL_REPOSITORY", PROJECT_ROOT / "model_repository"))


def _add_config_args(p: argparse.ArgumentParser) -> None:
    # None = keep what the model's production config.pbtxt says (or the defaults).
    p.add_argument("--max-batch-size", type=int)
    p.add_argument("--preferred-batch-sizes", help="comma-separated, e.g. 8,16,32,64")
    p.add_argument("--max-queue-delay-us", type=int)
    p.add_argument("--latest-versions", type=int,
                   help="serve only the newest N versions (default: every version, for A/B)")
    p.add_argument("--instances", type=int, help="model instances (instance_group count)")


def _overrides(args) -> dict:
    """The TritonModelConfig fields given on the command line."""
    given = {
        "max_batch_size": args.max_batch_size,
        "preferred_batch_sizes": tuple(int(x) for x in args.preferred_batch_sizes.split(",") if x.strip())
        if args.preferred_batch_sizes else None,
        "max_queue_delay_us": args.max_queue_delay_us,
        "latest_versions": args.latest_versions,
        "instance_count": args.instances,
        "cpu_threads": getattr(args, "cpu_threads", None),
    }
    return {k: v for k, v in given.items() if v is not None}


def register(subparsers) -> None:
    triton = subparsers.add_parser("triton", help="run Triton Inference Server on the model repository")
    sub = triton.add_subparsers(dest="triton_command", metavar="ACTION", required=True)

    serve = sub.add_parser("serve", help="serve the repository with the bundled tritonserver (CPU, python backend)")
    serve.add_argument("--model-repository", type=Path, default=_default_repository())
    serve.add_argument("--model", action="append", dest="models", help="model to load (repeatable; default: all)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--http-port", type=int, default=8000)
    serve.add_argument("--grpc-port", type=int, default=8001)
    serve.add_argument("--metrics-port", type=int, default=8002)
    serve.add_argument("--work-dir", type=Path, default=None, help="where the CPU repository is generated (default: a temp dir)")
    serve.add_argument("--cpu-threads", type=int, help="ONNX Runtime threads per model instance (default 1)")
    serve.add_argument("--startup-timeout", type=float, default=120.0)
    serve.add_argument("--log-verbose", type=int, default=0)
    _add_config_args(serve)
    serve.set_defaults(func=_serve)

    cpu = sub.add_parser("cpu-repo", help="write the CPU twin of a repository (python backend running ONNX Runtime)")
    cpu.add_argument("--model-repository", type=Path, default=_default_repository())
    cpu.add_argument("--out", type=Path, required=True)
    cpu.add_argument("--model", action="append", dest="models")
    cpu.add_argument("--cpu-threads", type=int, help="ONNX Runtime threads per model instance (default 1)")
    _add_config_args(cpu)
    cpu.set_defaults(func=_cpu_repo)

    write = sub.add_parser("write-config", help="write the production config.pbtxt (onnxruntime, GPU, TensorRT FP16)")
    write.add_argument("--model-repository", type=Path, default=_default_repository())
    write.add_argument("--model", default="rerank-student")
    write.add_argument("--fp32", action="store_true", help="TensorRT in FP32 instead of FP16")
    _add_config_args(write)
    write.set_defaults(func=_write_config)


def _serve(args) -> int:
    import signal
    import threading

    from service.triton_server import TritonServer

    names = args.models
    server = TritonServer(
        args.model_repository, models=names, host=args.host, http_port=args.http_port,
        grpc_port=args.grpc_port, metrics_port=args.metrics_port, work_dir=args.work_dir,
        startup_timeout_s=args.startup_timeout, log_verbose=args.log_verbose, overrides=_overrides(args),
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    try:
        print(json.dumps({"triton": "ready", **server.describe(), "log": str(server.log_path)}), flush=True)
        while not stop.wait(1.0):
            if server.process is None or server.process.poll() is not None:
                print(server.log_tail())
                return 1
    finally:
        code = server.stop()
    print(json.dumps({"triton": "stopped", "exit_code": code}), flush=True)
    return 0


def _cpu_repo(args) -> int:
    from service.model_repository import build_cpu_repository

    names = build_cpu_repository(args.model_repository, args.out, args.models, overrides=_overrides(args))
    print(json.dumps({"cpu_repository": str(args.out), "models": names}))
    return 0


def _write_config(args) -> int:
    from service.model_repository import TritonModelConfig, write_production_config

    config = TritonModelConfig(name=args.model, tensorrt_fp16=not args.fp32, **_overrides(args))
    print(write_production_config(args.model_repository, config))
    return 0
