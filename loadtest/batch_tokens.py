"""Request latency against the micro-batch token budget (``max_batch_tokens``), embedded backend.

    python loadtest/batch_tokens.py --budgets 16384,4096,2048,1024,512,256 --passes 2

Scores the same DL19 requests (a query and 20 of its BM25 passages) through the service's own
scoring path (``RerankService.score``: tokenizer, length-sorted micro-batches, the embedded ONNX
Runtime backend) once per budget, the budgets interleaved request by request so that a noisy
machine slows them alike. Writes ``reports/loadtest/batch-tokens.json`` with the median and p90
per budget, the padded-to-real token ratio, and each median's ratio to the largest budget's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest.workload import DEFAULT_DATA_DIR, load_pool  # noqa: E402
from service.backends import create_backend  # noqa: E402
from service.batching import plan_micro_batches  # noqa: E402
from service.metrics import Metrics  # noqa: E402
from service.serving import RerankService  # noqa: E402
from service.settings import Settings  # noqa: E402


async def measure(args) -> dict:
    budgets = [int(b) for b in args.budgets.split(",")]
    base = Settings(backend="embedded", model_repository=args.model_repository,
                    model_version=args.model_version, ort_intra_op_threads=args.threads)
    backend = create_backend(base)
    services = {}
    for b in budgets:
        # one backend (one ORT session) for every budget: only the batching plan differs
        service = RerankService(base.model_copy(update={"max_batch_tokens": b}), backend, Metrics(process=False))
        await service._load_model_files()
        services[b] = service
    await backend.start()
    if not await backend.ready():
        raise SystemExit(f"backend not ready: {backend.describe()}")

    pool, _ = load_pool(str(args.data_dir), "dl19")
    requests = [(q, hits[: args.docs_per_request]) for q, hits in pool][: args.queries]
    seconds = {b: [] for b in budgets}
    padded = dict.fromkeys(budgets, 0)
    batches = dict.fromkeys(budgets, 0)
    real = 0
    for _ in range(args.passes):
        for query, docs in requests:
            for b in budgets:
                t0 = time.perf_counter()
                scored = await services[b].score(query, docs, max_tokens_per_doc=None, strategy="truncate",
                                                 allow_truncation=True)
                seconds[b].append(time.perf_counter() - t0)
                lengths = scored.encoded.lengths
                plan = plan_micro_batches(lengths, base.max_batch_size, b)
                padded[b] += sum(len(rows) * max(lengths[r] for r in rows) for rows in plan)
                batches[b] += len(plan)
            real += sum(lengths)
    await backend.close()

    rows = {}
    for b in budgets:
        ms = sorted(1000 * s for s in seconds[b])
        rows[str(b)] = {
            "median_ms": round(statistics.median(ms), 1),
            "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1),
            "padded_per_real_token": round(padded[b] / real, 3),  # every budget scored the same pairs
            "batches_per_request": round(batches[b] / len(seconds[b]), 2),
        }
    largest = str(max(budgets))
    for row in rows.values():
        row["median_vs_largest"] = round(row["median_ms"] / rows[largest]["median_ms"], 3)
    files = services[budgets[0]].files
    return {
        "what": "ms per request through RerankService.score, embedded ONNX Runtime, budgets interleaved",
        "model": {"name": files.name, "version": files.version, "model_version": files.model_version,
                  "max_length": files.max_length},
        "requests": len(seconds[budgets[0]]), "docs_per_request": args.docs_per_request, "passes": args.passes,
        "max_batch_size": base.max_batch_size, "ort_intra_op_threads": args.threads,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "budgets": rows,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", default="16384,4096,2048,1024,512,256")
    parser.add_argument("--model-repository", type=Path, default=ROOT / "model_repository")
    parser.add_argument("--model-version", default=None, help="default: the served (highest) version")
    parser.add_argument("--docs-per-request", type=int, default=20)
    parser.add_argument("--queries", type=int, default=43, help="DL19 queries (43 in all)")
    parser.add_argument("--passes", type=int, default=2, help="times over the queries")
    parser.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (0: one per core)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "loadtest" / "batch-tokens.json")
    args = parser.parse_args(argv)
    report = asyncio.run(measure(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("| max_batch_tokens | median ms | p90 ms | vs largest | padded/real tokens | batches/request |")
    print("|---|---|---|---|---|---|")
    for b, row in report["budgets"].items():
        print(f"| {b} | {row['median_ms']} | {row['p90_ms']} | {row['median_vs_largest']} | "
              f"{row['padded_per_real_token']} | {row['batches_per_request']} |")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
