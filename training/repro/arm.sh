#!/bin/bash
# One arm of the reproduction (issue 23): the campaign's recipe (QA cross-entropy, LoRA rank 48
# α 96 on k/v, lr 5e-4, batch 8, 20 warm-up updates, multi-chunk 0.2, seed 0) for MINUTES of
# training (default 40), the learning rate falling linearly to 0 over the last DECAY_MINUTES
# (default 30 % of MINUTES: the campaign measured that a decay is worth about 5 F1 and that
# constant-rate checkpoints wander by ±2), then the first 300 questions of SQuAD-dev and DROP.
#   training/repro/arm.sh NAME [sac train options: --method, --ratio, ablation flags…]
# Appended-token baselines get --memory-per-chunk-length (as many memory slots per chunk as SAC
# has anchors for that chunk's length), so that every arm's achieved ratio is the nominal one.
# Resumable: rerun the same command after a stop (it resumes the training, or evaluates, or
# says the arm is done).
# Writes $RUNS/repro/NAME (run) and training/repro/results/NAME.{json,md} (eval report),
# NAME.train_log.jsonl and NAME.predictions.jsonl.gz.
set -e
cd "$(dirname "$0")/../.."
NAME=$1; shift
M=${MINUTES:-40}; DM=${DECAY_MINUTES:-$(awk "BEGIN { print $M * 0.3 }")}
SAC=${SAC:-.build/release/sac}; R=${RUNS:-runs}/repro; D=../shared/data/mrqa
mkdir -p "$R" training/repro/results
# An arm with a report is done, on any machine (its run stays on the machine that trained it).
[ -f training/repro/results/$NAME.json ] && { echo "$NAME: done (training/repro/results/$NAME.json)"; exit 0; }
# Between arms, wait while $R/PAUSE exists (so that other CPU work does not run beside a timed arm).
while [ -f "$R/PAUSE" ]; do sleep 15; done
if [ ! -f "$R/$NAME/done" ]; then
  $SAC train --objective qa --data $D/SQuAD-train.jsonl.gz --steps 3000 --batch 8 --lr 5e-4 --warmup 20 \
    --lora-rank 48 --lora-alpha 96 --lora-targets k_proj,v_proj --seed 0 \
    --valid-every 100 --valid-questions 200 --valid-examples 32 --checkpoint-every 25 \
    --multi-chunk 0.2 --distractors 3 --train-minutes $M --decay-minutes $DM --out "$R/$NAME" \
    $( [ -f "$R/$NAME/checkpoints/latest" ] && echo --resume ) "$@"
  touch "$R/$NAME/done"
fi
# The adapter at the end of the budget (not the best by validation: equal footing is equal time).
SAC=$SAC training/repro/reference.sh "$NAME" --adapter "$R/$NAME" --predictions "$R/$NAME/predictions.jsonl"
cp "$R/$NAME/train_log.jsonl" training/repro/results/$NAME.train_log.jsonl
# Each question's answer, for the report's paired comparisons between arms.
gzip -9 -n -c "$R/$NAME/predictions.jsonl" > training/repro/results/$NAME.predictions.jsonl.gz
