#!/bin/bash
# A/B arm B: arm A's recipe with distillation from the `full` teacher (teacher-full.sh):
# cross-entropy on the answer + KL divergence at every question/answer position + the per-layer
# hidden-state error, weights 1 / 1 / 1; 90 training minutes.
cd "$(dirname "$0")/../.."
exec ${SAC:-.build/release/sac} train --objective qa --method sac --ratio 5 \
  --data ../shared/data/mrqa/SQuAD-train.jsonl.gz --steps 3000 --batch 8 --lr 5e-4 --warmup 20 \
  --lora-rank 48 --lora-alpha 96 --lora-targets k_proj,v_proj --seed 0 \
  --teacher ${RUNS:-runs}/teacher-full --ce-weight 1 --kl-weight 1 --hidden-weight 1 \
  --valid-every 100 --valid-questions 200 --valid-examples 32 --checkpoint-every 25 \
  --multi-chunk 0.2 --distractors 3 --train-minutes 90 --out ${RUNS:-runs}/ab-qa-kd "$@"
