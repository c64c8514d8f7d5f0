"""`rerank eval`, `rerank bm25` and `rerank suite` end to end in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.paths import data_dir

FIXTURES = Path(__file__).parent / "fixtures"
DL19 = data_dir() / "trec-dl"
RERANK = [sys.executable, "-m", "training.cli"]


def rerank(*args, env=None, check=True):
    proc = subprocess.run([*RERANK, *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"rerank {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_bm25_anchor_on_dl19(tmp_path):
    """The evaluator's correctness anchor: BM25 candidate order on DL19 gives nDCG@10 = 0.5058."""
    out = tmp_path / "bm25.json"
    proc = rerank("eval", "--candidates", DL19 / "dl19_bm25_top100.jsonl",
                  "--qrels", DL19 / "qrels.dl19-passage.txt", "--scorer", "bm25", "--json", out)
    assert "ndcg@10      0.5058" in proc.stdout
    metrics = json.loads(out.read_text())
    assert {"ndcg@5", "ndcg@10", "mrr@10", "recall@100", "pnr", "queries", "pairs", "pairs_per_s"} <= set(metrics)
    assert round(metrics["ndcg@10"], 4) == 0.5058
    assert round(metrics["mrr@10"], 4) == 0.7024
    assert round(metrics["recall@100"], 4) == 0.4910
    assert metrics["queries"] == 43 and metrics["pairs"] == 4300


def test_eval_on_fixture_with_limit(tmp_path):
    out = tmp_path / "m.json"
    rerank("eval", "--candidates", FIXTURES / "mini_hits.jsonl", "--qrels", FIXTURES / "mini.qrels",
           "--scorer", "bm25", "--limit-queries", "1", "--json", out, "--quiet")
    m = json.loads(out.read_text())
    assert m["queries"] == 1 and m["pairs"] == 3
    assert 0 < m["ndcg@10"] < 1  # a (3), b (0), c (2): not the ideal order


def test_bi_encoder_scores_real_queries(tmp_path):
    out = tmp_path / "bi.json"
    rerank("eval", "--dataset", "dl19", "--scorer", "bi-encoder", "--limit-queries", "2", "--json", out, "--quiet")
    m = json.loads(out.read_text())
    assert m["queries"] == 2 and m["pairs"] == 200
    assert m["pnr"] > 1.0  # a real semantic model orders judged pairs better than chance


def test_unknown_scorer_and_missing_qrels_are_clear_errors():
    proc = rerank("eval", "--dataset", "dl19", "--scorer", "nope", check=False)
    assert proc.returncode == 2 and "unknown scorer 'nope'" in proc.stderr
    proc = rerank("eval", "--candidates", FIXTURES / "mini_hits.jsonl", "--scorer", "bm25", check=False)
    assert proc.returncode == 2 and "--qrels is required" in proc.stderr


def test_bm25_command_and_suite_on_a_beir_fixture(tmp_path):
    out = tmp_path / "cands.jsonl"
    proc = rerank("bm25", "--dataset", "scifact", "--beir-path", FIXTURES / "mini_beir", "--split", "test",
                  "--top-k", "3", "--out", out)
    assert "2 queries" in proc.stdout
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 2 and all(len(x["hits"]) == 3 for x in lines)
    assert (tmp_path / "cands.qrels").read_text().count("\n") == 3

    # the suite runs named sets; point the artifacts folder at the fixture's candidates
    art = tmp_path / "art"
    (art / "candidates").mkdir(parents=True)
    out.rename(art / "candidates" / "scifact_test_bm25_top100.jsonl")
    (tmp_path / "cands.qrels").rename(art / "candidates" / "scifact_test.qrels")
    report = tmp_path / "report.json"
    proc = rerank("suite", "--scorer", "bm25=bm25", "--sets", "scifact-test", "--out", report,
                  "--markdown", tmp_path / "table.md", env={"RERANK_ARTIFACTS_DIR": str(art)})
    cell = json.loads(report.read_text())["results"]["bm25"]["scifact-test"]
    assert cell["queries"] == 2 and cell["spec"] == "bm25"
    table = (tmp_path / "table.md").read_text()
    assert "| bm25 |" in table and "pairs/s (scifact-test)" in table  # speed named after the set it was measured on
    # resumable: a second run skips the cell it already has
    again = rerank("suite", "--scorer", "bm25=bm25", "--sets", "scifact-test", "--out", report,
                   env={"RERANK_ARTIFACTS_DIR": str(art)})
    assert "nDCG@10=" not in again.stdout


def test_bm25_command_retrieves_free_queries_from_a_passage_pool(tmp_path):
    topics = tmp_path / "topics.tsv"
    # one query per pool passage family, one that no passage covers, one DL19 evaluation query
    topics.write_text("10\twhat blood do fleas feed on\n11\tparis largest city\n12\tquantum chromodynamics\n"
                      "13\tdo goldfish grow\n")
    out = tmp_path / "pool.jsonl"
    proc = rerank("bm25", "--queries", topics, "--pool", FIXTURES / "mini_hits.jsonl", "--top-k", "2",
                  "--out", out)
    assert "1 evaluation queries dropped" in proc.stdout
    got = {x["query"]: [h["docid"] for h in x["hits"]] for x in map(json.loads, out.read_text().splitlines())}
    assert set(got) == {"what blood do fleas feed on", "paris largest city"}  # no match: no candidates
    assert got["what blood do fleas feed on"][0] == "a" and got["paris largest city"][0] == "p"
    # --limit-queries keeps the best-covered (highest top-1 BM25) queries
    rerank("bm25", "--queries", topics, "--pool", FIXTURES / "mini_hits.jsonl", "--limit-queries", "1",
           "--out", out)
    assert len(out.read_text().splitlines()) == 1
    bad = rerank("bm25", "--queries", topics, "--out", out, check=False)
    assert bad.returncode != 0 and "--pool" in bad.stderr


def test_data_dir_flag_points_every_command_at_another_data_folder(tmp_path):
    """--data-dir moves the shared data: a named set is then read from the new folder."""
    data = tmp_path / "data" / "trec-dl"
    data.mkdir(parents=True)
    (data / "dl19_bm25_top100.jsonl").write_text((FIXTURES / "mini_hits.jsonl").read_text())
    (data / "qrels.dl19-passage.txt").write_text((FIXTURES / "mini.qrels").read_text())
    out = tmp_path / "m.json"
    rerank("--data-dir", tmp_path / "data", "eval", "--dataset", "dl19", "--scorer", "bm25", "--json", out, "--quiet")
    m = json.loads(out.read_text())
    assert m["queries"] == 2 and m["pairs"] == 5


def test_limit_options_bare_n_for_all_keys_and_key_n_wins_in_any_order():
    from training.commands import parse_limits

    keys = ["bm25", "llm"]
    assert parse_limits(["100", "llm=4"], keys) == {"bm25": 100, "llm": 4}
    assert parse_limits(["llm=4", "100"], keys) == {"bm25": 100, "llm": 4}
    assert parse_limits(["dl19=15"], keys) == {"dl19": 15}
    with pytest.raises(ValueError, match="expected"):
        parse_limits(["=3"], keys)


def test_suite_table_quotes_speed_on_dl19_and_marks_a_scorer_without_it():
    from training.evaluate.suite import markdown_table

    def cell(ndcg, pps):
        return {"ndcg@10": ndcg, "mrr@10": 0.5, "pnr": 2.0, "queries": 3, "pairs_per_s": pps}

    report = {"results": {"a": {"scifact-test": cell(0.7, 40.0), "dl19": cell(0.6, 80.0)},
                          "b": {"scifact-test": cell(0.5, 30.0)}}}
    lines = markdown_table(report).splitlines()
    assert lines[0].endswith("| pairs/s (dl19) |")
    assert lines[2] == "| a | 0.7000 / 0.5000 / 2.00 | 0.6000 / 0.5000 / 2.00 | 80.0 |"
    assert lines[3] == "| b | 0.5000 / 0.5000 / 2.00 | - | - |"
