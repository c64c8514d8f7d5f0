"""`rerank seeds`: replicates of one suite under several seeds -> spread and paired differences."""

import json
import subprocess
import sys

import pytest

from training.evaluate.seeds import markdown_tables, summarize_seeds


def cell(ndcg, queries=43):
    return {"ndcg@10": ndcg, "mrr@10": 0.5, "pnr": 2.0, "queries": queries, "pairs_per_s": 1.0}


def report(**scorers):
    return {"machine": {}, "results": {label: {s: cell(v) for s, v in sets.items()} for label, sets in scorers.items()}}


REPORTS = {
    "42": report(teacher={"dl19": 0.64, "sf": 0.77}, A={"dl19": 0.50, "sf": 0.60}, B={"dl19": 0.48, "sf": 0.62}),
    "43": report(A={"dl19": 0.52, "sf": 0.64}, B={"dl19": 0.49, "sf": 0.60}),
}


def test_spread_and_paired_differences_by_hand():
    s = summarize_seeds(REPORTS, [("A", "B")])
    assert s["seeds"] == ["42", "43"] and s["sets"] == ["dl19", "sf"]
    a = s["scorers"]["A"]
    assert a["dl19"]["mean"] == pytest.approx(0.51)
    assert a["dl19"]["std"] == pytest.approx(0.0141421, abs=1e-6)  # sample std of 0.50, 0.52
    assert a["mean"]["per_seed"] == pytest.approx({"42": 0.55, "43": 0.58})
    # a scorer in one report only (seed-independent rows) has one value and no spread
    assert s["scorers"]["teacher"]["dl19"] == {"per_seed": {"42": 0.64}, "n": 1, "mean": 0.64, "std": None,
                                               "min": 0.64, "max": 0.64}
    d = s["contrasts"]["A - B"]
    assert d["dl19"]["per_seed"] == pytest.approx({"42": 0.02, "43": 0.03})
    assert d["dl19"]["mean"] == pytest.approx(0.025) and d["dl19"]["positive"] == 2
    assert d["sf"]["mean"] == pytest.approx(0.01) and d["sf"]["positive"] == 1
    assert d["sf"]["min"] == pytest.approx(-0.02) and d["sf"]["max"] == pytest.approx(0.04)
    assert d["mean"]["per_seed"] == pytest.approx({"42": 0.0, "43": 0.035})
    table = markdown_tables(s)
    assert "| A | 0.5100 ± 0.0141 | 0.6200 ± 0.0283 | 0.5650 ± 0.0212 |" in table
    assert "| teacher | 0.6400 (1 seed) | 0.7700 (1 seed) | 0.7050 (1 seed) |" in table
    assert "| A - B | +0.0250 ± 0.0071 [+0.0200, +0.0300], 2/2 > 0 |" in table


def test_refuses_replicates_over_different_queries_and_unknown_scorers():
    other = {"43": report(A={"dl19": 0.5})}
    other["43"]["results"]["A"]["dl19"]["queries"] = 20
    with pytest.raises(ValueError, match="different numbers of queries"):
        summarize_seeds({"42": REPORTS["42"], **other})
    with pytest.raises(ValueError, match="no report has scorer 'C'"):
        summarize_seeds(REPORTS, [("A", "C")])


def test_cli_writes_json_and_markdown(tmp_path):
    paths = []
    for seed, rep in REPORTS.items():
        path = tmp_path / f"seed{seed}.json"
        path.write_text(json.dumps(rep))
        paths += ["--report", f"{seed}={path}"]
    out, md = tmp_path / "seeds.json", tmp_path / "seeds.md"
    cmd = [sys.executable, "-m", "training.cli", "seeds", *paths, "--contrast", "A:B", "--sets", "dl19",
           "--out", str(out), "--markdown", str(md)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(out.read_text())
    assert summary["sets"] == ["dl19"] and summary["reports"]["43"].endswith("seed43.json")
    assert summary["contrasts"]["A - B"]["mean"]["mean"] == pytest.approx(0.025)
    assert md.read_text() == proc.stdout

    bad = subprocess.run([*cmd[:3], "seeds", "--report", "nope", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "expected SEED=PATH" in bad.stderr
