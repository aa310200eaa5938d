#!/bin/bash
# A/B arm C: 45 training minutes of LM-distillation pre-training on plain text (the frozen model
# reading segment A then B is the teacher; SQuAD-train's contexts, less the held-out ones, are
# text too; WikiText is left out: its tokenized release spaces out punctuation), then 45 minutes of QA fine-tuning from it with OBJECTIVE's terms (the better of
# arms A and B: "ce" or "kd").
set -e
cd "$(dirname "$0")/../.."
SAC=${SAC:-.build/release/sac}; R=${RUNS:-runs}; T=../shared/data/text
$SAC train --objective lm --method sac --ratio 5 \
  --data $T/us-state-of-the-union.txt $T/us-inaugural-addresses.txt \
         ../shared/data/mrqa/SQuAD-train.jsonl.gz \
  --lm-tokens 600-1400 --steps 3000 --batch 4 --lr 5e-4 --warmup 20 \
  --lora-rank 48 --lora-alpha 96 --lora-targets k_proj,v_proj --seed 0 \
  --teacher frozen --ce-weight 1 --kl-weight 1 --hidden-weight 1 \
  --valid-every 100 --valid-questions 200 --valid-examples 16 --checkpoint-every 25 \
  --train-minutes 45 --out $R/ab-lm-kd $( [ -f $R/ab-lm-kd/checkpoints/latest ] && echo --resume )
KD=""
[ "${OBJECTIVE:-ce}" = kd ] && KD="--teacher $R/teacher-full --ce-weight 1 --kl-weight 1 --hidden-weight 1"
exec $SAC train --objective qa --init $R/ab-lm-kd --seed 0 \
  --data ../shared/data/mrqa/SQuAD-train.jsonl.gz --steps 3000 --batch 8 --lr 5e-4 --warmup 20 $KD \
  --valid-every 100 --valid-questions 200 --valid-examples 32 --checkpoint-every 25 \
  --multi-chunk 0.2 --distractors 3 --train-minutes 45 --out $R/ab-lm-qa $( [ -f $R/ab-lm-qa/checkpoints/latest ] && echo --resume )
