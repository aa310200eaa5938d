#!/bin/bash
# A long-context summarization arm (issue 23, Table 8): QA-style fine-tuning on QMSum's 35
# validation meetings (272 queries; the query is the question, the reference summary the
# answer), scored on the 35 test meetings (281 queries) with ROUGE-1/2/L F. Transcripts are cut
# to their first CONTEXT (default 7000) tokens so that context, query and answer fit SmolLM2's
# 8,192 positions; at 15x a 7,000-token transcript is 14 chunks and about 470 carriers.
# An update of 2 such examples takes over a minute on two cores, so 40 minutes from scratch would
# see about 60 of the 272 queries: each arm starts instead from the QA arm of the same name
# (training/repro/adapters/NAME, kept by rerun.sh, else $RUNS/repro/NAME, trained by arm.sh on
# SQuAD), as the paper fine-tunes a trained compressor.
#   training/repro/qmsum.sh sac15     (after rerun.sh sac15 or arm.sh sac15; MINUTES of
#                                      training, default 40, the last DECAY_MINUTES decaying)
#   training/repro/qmsum.sh frozen    (no training: the frozen model reads the cut transcript)
set -e
cd "$(dirname "$0")/../.."
NAME=$1; shift
# The method and ratio come from the QA arm NAME (frozen takes none): options here would be ignored.
[ $# -eq 0 ] || { echo "qmsum.sh: unexpected options after $NAME: $* (usage: qmsum.sh NAME, NAME a finished QA arm or frozen)" >&2; exit 2; }
M=${MINUTES:-40}; DM=${DECAY_MINUTES:-$(awk "BEGIN { print $M * 0.3 }")}
SAC=${SAC:-.build/release/sac}; R=${RUNS:-runs}/repro; Q=../shared/data/qmsum; C=${CONTEXT:-7000}
mkdir -p "$R" training/repro/results
# Between arms, wait while $R/PAUSE exists (so that other CPU work does not run beside a timed arm).
while [ -f "$R/PAUSE" ]; do sleep 15; done
OUT=training/repro/results/qmsum-$NAME
[ -f $OUT.json ] && { echo "qmsum-$NAME: done ($OUT.json)"; exit 0; }
if [ "$NAME" = frozen ]; then
  EVAL=(--method tokens --ratio 1)
else
  # The QA arm to start from: its adapter kept in the repository by rerun.sh, else its run here.
  BASE=training/repro/adapters/$NAME
  if [ ! -f $BASE/adapter_model.safetensors ]; then
    BASE=$R/$NAME
    [ -f "$BASE/done" ] || { echo "qmsum-$NAME: neither training/repro/adapters/$NAME nor a finished QA arm $BASE (run training/repro/rerun.sh $NAME … first)" >&2; exit 1; }
  fi
  if [ ! -f "$R/qmsum-$NAME/done" ]; then
    $SAC train --init "$BASE" --objective qa --data $Q/val.jsonl.gz --context-tokens $C --steps 3000 --batch 2 --lr 5e-4 --warmup 5 \
      --lora-rank 48 --lora-alpha 96 --lora-targets k_proj,v_proj --seed 0 --valid-contexts 1 \
      --valid-every 0 --checkpoint-every 5 --train-minutes $M --decay-minutes $DM --out "$R/qmsum-$NAME" \
      $( [ -f "$R/qmsum-$NAME/checkpoints/latest" ] && echo --resume )
    touch "$R/qmsum-$NAME/done"
  fi
  cp "$R/qmsum-$NAME/train_log.jsonl" $OUT.train_log.jsonl
  EVAL=(--adapter "$R/qmsum-$NAME")
fi
$SAC eval "${EVAL[@]}" --data $Q/test.jsonl.gz --context-tokens $C --max-new-tokens 160 \
  --json $OUT.json.tmp --predictions $OUT.predictions.jsonl.tmp > $OUT.md.tmp
# Each query's summary, for the report's paired comparisons between arms.
gzip -9 -n -c $OUT.predictions.jsonl.tmp > $OUT.predictions.jsonl.gz; rm $OUT.predictions.jsonl.tmp
mv $OUT.md.tmp $OUT.md; mv $OUT.json.tmp $OUT.json
