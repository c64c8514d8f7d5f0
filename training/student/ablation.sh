#!/usr/bin/env bash
# RRA-BERT ablation -> reports/student.json (+ .md) through `rerank suite` (resumable end to end:
# every `rerank train` resumes from its checkpoint, every suite cell already in the report is kept).
#
#   training/student/ablation.sh LABELS.jsonl [LABELS2.jsonl ...]
#
# Runs (same labels, seed and schedule; only the named factor changes):
#   tcl-hybrid      --tcl    --loss hybrid   served without the TCL  -> scorer tcl-dropped
#                                            and with it kept        -> scorer tcl-kept
#   notcl-hybrid    --no-tcl --loss hybrid                           -> scorer no-tcl
#   tcl-point / tcl-margin / tcl-ranknet (LOSSES=1, or a list: LOSSES=margin) -> loss ablation
# plus the pre-ranker alone (BM25, the candidate order), the teacher (for the interim labels the
# all-MiniLM-L6-v2 bi-encoder, also the student's starting point) unless BASELINES=0 (they do not
# depend on the seed: a replication under another SEED skips them), and, if EXPORT=1, the exported
# ONNX model of tcl-hybrid as served (int8 if its guard accepts it).
#
# Environment: TEACHER (the labels' teacher as a scorer SPEC: bi-encoder), OUT_ROOT (artifacts/student),
# EPOCHS (3), SEED (42), SETS (dl19,scifact-test,nfcorpus-test,noveleval), LIMIT (first N queries of
# each set for every scorer; empty = all), REPORT (reports/student.json), TRAIN_ARGS (extra
# `rerank train` flags), LOSSES (0), BASELINES (1), EXPORT (0), RERANK (.venv/bin/rerank).
set -euo pipefail
[[ $# -ge 1 ]] || { sed -n '2,20p' "$0" >&2; exit 64; }

RERANK=${RERANK:-.venv/bin/rerank}
OUT_ROOT=${OUT_ROOT:-artifacts/student}
EPOCHS=${EPOCHS:-3}
SEED=${SEED:-42}
SETS=${SETS:-dl19,scifact-test,nfcorpus-test,noveleval}
REPORT=${REPORT:-reports/student.json}
TEACHER=${TEACHER:-bi-encoder}
labels=()
for f in "$@"; do labels+=(--labels "$f"); done

train() {  # train NAME FLAGS...
  local name=$1; shift
  # shellcheck disable=SC2086
  "$RERANK" train "${labels[@]}" --out "$OUT_ROOT/$name" --epochs "$EPOCHS" --seed "$SEED" "$@" ${TRAIN_ARGS:-}
}

train tcl-hybrid --tcl --loss hybrid
train notcl-hybrid --no-tcl --loss hybrid
scorers=()
if [[ "${BASELINES:-1}" == "1" ]]; then
  scorers+=(--scorer "pre-ranker=bm25" --scorer "teacher=$TEACHER")
fi
scorers+=(--scorer "no-tcl=student:$OUT_ROOT/notcl-hybrid"
          --scorer "tcl-dropped=student:$OUT_ROOT/tcl-hybrid"
          --scorer "tcl-kept=student-tcl:$OUT_ROOT/tcl-hybrid")
case "${LOSSES:-0}" in
  0) losses=() ;;
  1) losses=(point margin ranknet) ;;
  *) read -r -a losses <<< "${LOSSES//,/ }" ;;
esac
for loss in "${losses[@]}"; do
  train "tcl-$loss" --tcl --loss "$loss"
  scorers+=(--scorer "loss-$loss=student:$OUT_ROOT/tcl-$loss")
done
if [[ "${EXPORT:-0}" == "1" ]]; then
  repo="$OUT_ROOT/model_repository"
  [[ -d "$repo/rerank-student" ]] || "$RERANK" export --checkpoint "$OUT_ROOT/tcl-hybrid" --model-repository "$repo"
  scorers+=(--scorer "onnx-served=onnx:$repo")
fi
limits=()
if [[ -n "${LIMIT:-}" ]]; then
  for s in "${scorers[@]}"; do
    [[ "$s" == --scorer ]] && continue
    limits+=(--limit-queries "${s%%=*}=$LIMIT")
  done
fi
"$RERANK" suite --out "$REPORT" --markdown "${REPORT%.json}.md" --sets "$SETS" "${scorers[@]}" "${limits[@]}"
