#!/bin/bash
# The evaluations that decide between adapters of the campaign (issue 19), each with its
# predictions for paired comparisons (scripts/compare_predictions.py):
#   held      all 528 held-out questions (SQuAD-train's last 100 contexts, never trained on)
#   first300  the first 300 questions of SQuAD-dev and of DROP (the README's table)
#   mc        SQuAD-dev's first 300, each paragraph among three others (--distractors 3)
#   training/campaign/final-evals.sh NAME ADAPTER_DIR [held first300 mc]
# Reports and predictions go to training/campaign/evals/NAME-SET.{json,md,predictions.jsonl.gz}.
set -e
cd "$(dirname "$0")/../.."
NAME=$1; DIR=$2; shift 2
SETS=${*:-held first300 mc}
SAC=${SAC:-.build/release/sac}; D=../shared/data/mrqa; E=training/campaign/evals
for set in $SETS; do
  case $set in
    held) ARGS=(--data $D/SQuAD-train.jsonl.gz --last-contexts 100) ;;
    first300) ARGS=(--data $D/SQuAD-dev.jsonl.gz $D/DROP.jsonl.gz --limit 300) ;;
    mc) ARGS=(--data $D/SQuAD-dev.jsonl.gz --limit 300 --distractors 3) ;;
    *) echo "unknown set $set (expected held, first300 or mc)" >&2; exit 2 ;;
  esac
  OUT=$E/$NAME-$set
  [ -f "$OUT.json" ] && { echo "$OUT.json exists"; continue; }
  echo "== $NAME $set ($(date -u +%H:%M))" >&2
  $SAC eval --adapter "$DIR" "${ARGS[@]}" --predictions "$OUT-predictions.jsonl" --json "$OUT.json.tmp" > "$OUT.md.tmp"
  gzip -f "$OUT-predictions.jsonl"
  mv "$OUT.md.tmp" "$OUT.md"; mv "$OUT.json.tmp" "$OUT.json"
done
