#!/bin/bash
# The campaign's last 112 training minutes (issue 19, sitting 10): a branch from the constant-rate
# state of update 2746 (commit 2fb0adf's training/campaign/run) with half of the examples
# multi-chunk (the question's paragraph among three other training paragraphs, instead of 20 %),
# and the learning rate falling linearly from 5e-4 to 0 over the whole branch. Against the
# decay F3346 (same start, 20 % multi-chunk, 600 updates of decay), it asks whether more
# distinct contexts help where more passes over the same 7,086 questions did not.
# Starts from the adapter (--init: fresh AdamW, new data order --seed 3); resumes with --resume.
set -e
cd "$(dirname "$0")/../.."
SAC=${SAC:-.build/release/sac}; R=${RUNS:-runs}
INIT=$R/stable-2746/training/campaign/run/checkpoints/step-002746
if [ ! -d "$INIT" ]; then
  mkdir -p "$R/stable-2746" && git archive 2fb0adf training/campaign/run | tar -x -C "$R/stable-2746"
fi
START=(--init "$INIT")
[ -f "$R/mc50/checkpoints/latest" ] && START=(--resume)
exec $SAC train --objective qa --method sac --ratio 5 \
  --data ../shared/data/mrqa/SQuAD-train.jsonl.gz --steps 6000 --batch 8 --lr 5e-4 --warmup 20 \
  --seed 3 --valid-every 150 --valid-questions 200 --valid-examples 32 --checkpoint-every 25 \
  --multi-chunk 0.5 --distractors 3 --train-minutes 112 --decay-minutes 112 \
  --out "$R/mc50" "${START[@]}" "$@"
