#!/bin/bash
# The training campaign (issue 19): the A/B's winner, arm A (the paper's cross-entropy, QA
# fine-tuning only, 20 % multi-chunk examples), continued from its 90-minute result for up to
# 12 hours of training in all, across sittings. Every sitting runs this same command; it goes on
# from the newest state it finds:
#   1. $RUNS/campaign/checkpoints (this machine's run): exact resume;
#   2. training/campaign/run (the compact copy that training/campaign/save.sh writes and git
#      keeps: weights F16 and the log; since update 2002 without the Adam moments, so the resume
#      starts AdamW afresh with the rate re-warmed over 20 updates): copied to $RUNS/campaign,
#      then resumed;
#   3. otherwise arm A's best adapter (update 516, committed in F16) as --init, with a fresh
#      optimiser and a new data order (--seed 1): update 0 here is arm A's update 516.
# Stop it with SIGTERM (it checkpoints). The last sitting adds DECAY="--steps N --decay-steps D"
# to end with a linear learning-rate decay.
set -e
cd "$(dirname "$0")/../.."
SAC=${SAC:-.build/release/sac}; R=${RUNS:-runs}
# A resumed run takes its compressor settings from its checkpoint (seed 0, from arm A's adapter).
START=(--resume)
if [ ! -f "$R/campaign/checkpoints/latest" ]; then
  if [ -f training/campaign/run/checkpoints/latest ]; then
    mkdir -p "$R/campaign" && cp -r training/campaign/run/. "$R/campaign/"
  else
    START=(--init training/ab/runs/ab-qa-ce/best)
  fi
fi
exec $SAC train --objective qa --method sac --ratio 5 \
  --data ../shared/data/mrqa/SQuAD-train.jsonl.gz --steps ${STEPS:-6000} --batch 8 --lr 5e-4 --warmup 20 \
  --lora-rank 48 --lora-alpha 96 --lora-targets k_proj,v_proj --seed 1 \
  --valid-every 200 --valid-questions 200 --valid-examples 32 --checkpoint-every 25 \
  --multi-chunk 0.2 --distractors 3 --train-minutes 660 --out "$R/campaign" "${START[@]}" ${DECAY:-} "$@"
