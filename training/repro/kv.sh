#!/bin/bash
# The paper's analysis claim (issue 23, item 4): per layer, the cosine similarity of an arm's
# memory K/V to the frozen model's K/V of the context at the same positions, on the first 50
# contexts of SQuAD-dev.   training/repro/kv.sh NAME   (after arm.sh NAME)
set -e
cd "$(dirname "$0")/../.."
NAME=$1
SAC=${SAC:-.build/release/sac}; R=${RUNS:-runs}/repro; OUT=training/repro/results/kv-$NAME
[ -f $OUT.json ] && { echo "kv-$NAME: done ($OUT.json)"; exit 0; }
$SAC kv-similarity --adapter "$R/$NAME" --data ../shared/data/mrqa/SQuAD-dev.jsonl.gz --contexts 50 \
  --json $OUT.json.tmp > $OUT.md
mv $OUT.json.tmp $OUT.json
