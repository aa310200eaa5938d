#!/bin/bash
# The teacher for arm B: `full` (the frozen decoder reading the whole context's KV, LoRA r8 on
# q/v in the encoder), QA fine-tuning on the same training contexts (the 100 held-out ones are
# left out here too), 50 updates of 8 — the recipe of the README's `full` row.
cd "$(dirname "$0")/../.."
exec ${SAC:-.build/release/sac} train --objective qa --method full \
  --data ../shared/data/mrqa/SQuAD-train.jsonl.gz --steps 50 --batch 8 --lr 5e-4 --warmup 20 \
  --lora-rank 8 --lora-alpha 16 --seed 0 \
  --valid-every 50 --valid-questions 200 --valid-examples 32 --checkpoint-every 25 \
  --out ${RUNS:-runs}/teacher-full "$@"
