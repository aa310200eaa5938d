#!/bin/bash
# Paired comparison of adapters on the same questions. By default the A/B decision: each arm's
# adapter at its 90-minute mark answers all 528 held-out questions of SQuAD-train (the last 100
# contexts, never trained on); every pair is then compared with a paired bootstrap
# (scripts/compare_predictions.py). Usage: training/ab/decide.sh NAME=ADAPTER_DIR ...
# (e.g. A=runs/ab-qa-ce/best). Predictions and the tables go to ${OUT:-runs/decide}.
# EVAL="..." replaces the questions, e.g. one question from each of SQuAD-dev's 300 contexts:
#   EVAL="--data ../shared/data/mrqa/SQuAD-dev.jsonl.gz --spread 300 --limit 300" OUT=runs/dev-spread
set -e
cd "$(dirname "$0")/../.."
SAC=${SAC:-.build/release/sac}; OUT=${OUT:-runs/decide}
EVAL=${EVAL:---data ../shared/data/mrqa/SQuAD-train.jsonl.gz --last-contexts 100}
mkdir -p "$OUT"
names=()
for arm in "$@"; do
  name=${arm%%=*}; dir=${arm#*=}; names+=("$name")
  [ -s "$OUT/$name.jsonl" ] && continue
  echo "== $name ($dir)" >&2
  $SAC eval --adapter "$dir" $EVAL --predictions "$OUT/$name.jsonl.tmp" --json "$OUT/$name.json" > "$OUT/$name.md"
  mv "$OUT/$name.jsonl.tmp" "$OUT/$name.jsonl"
done
for ((i = 0; i < ${#names[@]}; i++)); do
  for ((j = i + 1; j < ${#names[@]}; j++)); do
    a=${names[$i]}; b=${names[$j]}
    python3 scripts/compare_predictions.py "$OUT/$a.jsonl" "$OUT/$b.jsonl" --names "$a" "$b"
  done
done
