"""``rerank relabel``: turn the service's shadow-teacher records into training labels.

``rerank relabel export --since 7d --out labels/live.jsonl`` writes the label pipeline's JSONL
(``training.labels.schema``) from the relabel store; ``rerank train --labels labels/live.jsonl``
reads it as is (docs/ab-and-shadow.md). ``rerank relabel stats`` summarises the store.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("relabel", help="export live-traffic teacher labels from the shadow relabel store",
                       description="The service's shadow path stores the LLM teacher's answers for live "
                                   "requests in SQLite; export them as label JSONL for rerank train.")
    rsub = p.add_subparsers(dest="relabel_command", metavar="ACTION", required=True)

    ex = rsub.add_parser("export", help="relabel store -> label JSONL (the rerank label format)")
    ex.add_argument("--store", help="SQLite file (default: $RERANK_SHADOW_STORE_PATH or the service default)")
    ex.add_argument("--since", help="only records from this time: unix seconds, ISO 8601 (UTC if no zone) "
                                    "or an age such as 24h / 7d (default: all)")
    ex.add_argument("--until", help="only records before this time (same forms)")
    ex.add_argument("--variant", help="only records served by this A/B variant")
    ex.add_argument("--min-documents", type=int, default=2, help="skip requests with fewer documents")
    ex.add_argument("--no-dedupe", dest="dedupe", action="store_false",
                    help="keep repeated request ids / identical query+documents")
    ex.add_argument("--out", required=True, help="label JSONL to write (replaced)")
    ex.set_defaults(func=run_export)

    st = rsub.add_parser("stats", help="records by status, variant and teacher; mean agreement")
    st.add_argument("--store", help="SQLite file (default as for export)")
    st.add_argument("--since")
    st.set_defaults(func=run_stats)


def _store_path(args) -> str:
    if args.store:
        return args.store
    from service.settings import Settings

    return str(Settings().shadow_store_path)


def run_export(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from service.shadow.export import export_labels, parse_time

    summary = export_labels(_store_path(args), args.out, since=parse_time(args.since), until=parse_time(args.until),
                            variant=args.variant, min_documents=args.min_documents, dedupe=args.dedupe)
    out = Path(args.out)
    out.with_name(out.name + ".summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary))
    return 0


def run_stats(args: argparse.Namespace) -> int:
    import json

    from service.shadow.export import parse_time
    from service.shadow.store import RelabelStore

    store = RelabelStore(_store_path(args), readonly=True)
    since = parse_time(args.since)
    try:
        rows = store.conn.execute(
            "SELECT variant, model_version, teacher_name, status, COUNT(*) AS n, AVG(ndcg10) AS ndcg10, "
            "AVG(kendall_tau) AS kendall_tau, AVG(teacher_seconds) AS teacher_seconds FROM shadow_records "
            "WHERE created_at >= ? GROUP BY variant, model_version, teacher_name, status ORDER BY variant, status",
            (since if since is not None else float("-inf"),)).fetchall()
    finally:
        store.close()
    print(json.dumps([dict(r) for r in rows], indent=2))
    return 0
