"""``rerank serve``: the HTTP re-ranking service (FastAPI under uvicorn)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="serve the re-ranker over HTTP (embedded ONNX Runtime or Triton)",
        description="Serve POST /rerank (Cohere/Jina and TEI shapes), /health, /ready, /info, /metrics. "
                    "Flags override RERANK_* environment variables.",
    )
    p.add_argument("--backend", choices=["embedded", "triton"], help="default: embedded")
    p.add_argument("--model-repository", help="default: <project>/model_repository")
    p.add_argument("--model-name", help="default: rerank-student")
    p.add_argument("--model-version", help="version folder (default: the highest)")
    p.add_argument("--host", help="default: 127.0.0.1")
    p.add_argument("--port", type=int, help="default: 8080")
    p.add_argument("--triton-url", help="Triton endpoint for --backend triton (default: 127.0.0.1:8001)")
    p.add_argument("--variants-file", help="A/B variants, JSON or TOML (docs/ab-and-shadow.md)")
    p.add_argument("--teacher", help="LLM teacher for shadow relabeling and /teacher/rerank: openai:MODEL@URL | "
                                     "score:URL | dense:PATH | zero-shot[:DIR]")
    p.add_argument("--shadow-rate", type=float, help="fraction of live requests sent to the teacher (default 0)")
    p.add_argument("--shadow-store", help="relabel store SQLite file (default artifacts/relabel/shadow.sqlite)")
    p.add_argument("--teacher-route", action="store_true", default=None, help="serve POST /teacher/rerank")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from service.app import create_app
    from service.settings import Settings

    flags = {
        "backend": args.backend, "model_repository": args.model_repository, "model_name": args.model_name,
        "model_version": args.model_version, "host": args.host, "port": args.port, "triton_url": args.triton_url,
        "variants_file": args.variants_file, "teacher": args.teacher, "shadow_rate": args.shadow_rate,
        "shadow_store_path": args.shadow_store, "teacher_route": args.teacher_route,
    }
    settings = Settings(**{k: v for k, v in flags.items() if v is not None})
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level)
    return 0
