#!/bin/bash
# An arm with pre-training (issue 23, Table 4's AE+LM against LM for SAC 5x): PRE_MINUTES
# (default 20) of OBJECTIVE (lm or ae+lm) on plain text (the State of the Union and inaugural
# addresses, SQuAD-train's contexts less the held-out ones), then MINUTES (default 20) of QA
# fine-tuning from it with arm.sh: 40 minutes in all, as every other arm.
#   training/repro/pretrain.sh NAME OBJECTIVE
set -e
cd "$(dirname "$0")/../.."
NAME=$1; OBJ=$2
SAC=${SAC:-.build/release/sac}; R=${RUNS:-runs}/repro; T=../shared/data/text
mkdir -p "$R"
# An arm with a report is done, on any machine (its runs stay on the machine that trained them).
[ -f training/repro/results/$NAME.json ] && { echo "$NAME: done (training/repro/results/$NAME.json)"; exit 0; }
# Between arms, wait while $R/PAUSE exists (so that other CPU work does not run beside a timed arm).
while [ -f "$R/PAUSE" ]; do sleep 15; done
if [ ! -f "$R/$NAME-pre/done" ]; then
  $SAC train --objective "$OBJ" --method sac --ratio 5 \
    --data $T/us-state-of-the-union.txt $T/us-inaugural-addresses.txt ../shared/data/mrqa/SQuAD-train.jsonl.gz \
    --lm-tokens 600-1400 --steps 3000 --batch 4 --lr 5e-4 --warmup 20 \
    --lora-rank 48 --lora-alpha 96 --lora-targets k_proj,v_proj --seed 0 \
    --valid-every 0 --checkpoint-every 25 --train-minutes ${PRE_MINUTES:-20} --out "$R/$NAME-pre" \
    $( [ -f "$R/$NAME-pre/checkpoints/latest" ] && echo --resume )
  touch "$R/$NAME-pre/done"
fi
cp "$R/$NAME-pre/train_log.jsonl" training/repro/results/$NAME.pre_log.jsonl 2>/dev/null || true
MINUTES=${MINUTES:-20} exec training/repro/arm.sh "$NAME" --init "$R/$NAME-pre"
