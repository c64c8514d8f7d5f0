"""`training/student/ablation.sh` end to end with a tiny random BERT: the script's wiring (which
runs it trains, which scorers reach the report), not the model."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.tiny_student import FIXTURE_LABELS, TINY_BERT

ROOT = Path(__file__).resolve().parent.parent
RERANK = Path(sys.executable).parent / "rerank"


def test_seed_replicate_with_one_loss_skips_the_seed_independent_rows(tmp_path):
    train_args = (f"--bert-config {json.dumps(TINY_BERT, separators=(',', ':'))} --max-length 64 --batch-size 2 --group-size 4 "
                  "--threads 1 --eval-sets= --val-fraction 0.2 --quiet")
    report = tmp_path / "seed7.json"
    env = {**os.environ, "RERANK": str(RERANK), "OUT_ROOT": str(tmp_path / "runs"), "EPOCHS": "1", "SEED": "7",
           "SETS": "dl19", "LIMIT": "2", "LOSSES": "margin", "BASELINES": "0", "REPORT": str(report),
           "TRAIN_ARGS": train_args}
    proc = subprocess.run(["bash", str(ROOT / "training/student/ablation.sh"), str(FIXTURE_LABELS)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads(report.read_text())["results"]
    assert list(results) == ["no-tcl", "tcl-dropped", "tcl-kept", "loss-margin"]
    for label, cells in results.items():
        assert cells["dl19"]["queries"] == 2, label
    assert results["tcl-kept"]["dl19"]["spec"].startswith("student-tcl:")
    runs = {p.name for p in (tmp_path / "runs").iterdir()}
    assert runs == {"tcl-hybrid", "notcl-hybrid", "tcl-margin"}
    args = json.loads((tmp_path / "runs" / "tcl-margin" / "train_args.json").read_text())
    assert args["loss"] == "margin" and args["seed"] == 7 and args["tcl"] is True
    assert (tmp_path / "seed7.md").read_text().startswith("| scorer |")
