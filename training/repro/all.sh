#!/bin/bash
# Every arm of the reproduction (issue 23), in the order they are run. Each arm is resumable
# and skipped once its report exists, so this whole script is too: rerun it in every sitting.
# About 40 training minutes and 5 evaluation minutes an arm.
set -e
cd "$(dirname "$0")"
# References, evaluated without training here (a few minutes each).
./reference.sh full --adapter training/ab/runs/teacher-full
./reference.sh tokens5 --method tokens --ratio 5
./reference.sh tokens15 --method tokens --ratio 15
# Table 1 (methods, SPEC §8): 5x and 15x.
./arm.sh sac5   --method sac  --ratio 5
./arm.sh epl5   --method epl  --ratio 5  --memory-per-chunk-length
./arm.sh 500x5  --method 500x --ratio 5  --memory-per-chunk-length
./arm.sh icae5  --method icae --ratio 5  --memory-per-chunk-length
./arm.sh sac15  --method sac  --ratio 15
./arm.sh epl15  --method epl  --ratio 15 --memory-per-chunk-length
# Table 4 (ablations of SAC at 5x).
./arm.sh sac5-causal   --method sac --ratio 5 --attention causal
./arm.sh sac5-noemb    --method sac --ratio 5 --anchor-embedding none
./arm.sh sac5-shared   --method sac --ratio 5 --anchor-embedding shared
./arm.sh sac5-random   --method sac --ratio 5 --anchors random
# Table 4: AE+LM against LM-only pre-training (20 + 20 minutes).
./pretrain.sh sac5-lm   lm
./pretrain.sh sac5-aelm ae+lm
# The analysis claim: memory K/V against the context's, SAC against EPL.
./kv.sh sac5
./kv.sh epl5
# Table 8: long-context summarization at 15x, beside the frozen model reading the cut transcript.
# Each arm is fine-tuned from its QA arm, whose adapter rerun.sh keeps in the repository (training
# it again as NAME-rerun where this machine lacks it).
./rerun.sh sac15 --method sac --ratio 15
./qmsum.sh sac15
./rerun.sh epl15 --method epl --ratio 15 --memory-per-chunk-length
./qmsum.sh epl15
./qmsum.sh frozen
# Tables and plots from the reports and logs: docs/reproduction.md, docs/plots/repro-*.png.
cd ../.. && python3 scripts/repro_report.py
