#!/bin/bash
# One row of the reproduction (issue 23) evaluated on the arms' questions (the first 300 of
# SQuAD-dev and DROP): what arm.sh runs after training, and the reference rows, which train
# nothing here:
#   training/repro/reference.sh full --adapter training/ab/runs/teacher-full   (the campaign's full adapter)
#   training/repro/reference.sh tokens5 --method tokens --ratio 5              (anchor tokens as text)
# Writes training/repro/results/NAME.{json,md}; skipped once the report exists.
set -e
cd "$(dirname "$0")/../.."
NAME=$1; shift
SAC=${SAC:-.build/release/sac}; D=../shared/data/mrqa; OUT=training/repro/results/$NAME
mkdir -p training/repro/results
[ -f $OUT.json ] && { echo "$NAME: done ($OUT.json)"; exit 0; }
$SAC eval "$@" --data $D/SQuAD-dev.jsonl.gz $D/DROP.jsonl.gz --limit 300 --json $OUT.json.tmp > $OUT.md.tmp
mv $OUT.md.tmp $OUT.md; mv $OUT.json.tmp $OUT.json
