#!/bin/bash
# A QA arm that a later arm starts from, kept in the repository (issue 23): the QMSum arms
# fine-tune the SQuAD arms sac15 and epl15, whose runs ($RUNS/repro/NAME) live only on the
# machine that trained them. On a machine without them, this trains the arm again with arm.sh
# under the name NAME-rerun (same recipe, binary and seed: a replicate, evaluated like every
# arm, which shows how far two runs of one arm land apart) and writes its adapter as F16 to
# training/repro/adapters/NAME, which qmsum.sh starts from (its training log is the replicate's,
# training/repro/results/NAME-rerun.train_log.jsonl). Skipped once that adapter exists.
#   training/repro/rerun.sh NAME [the arm's sac train options, as in all.sh]
set -e
cd "$(dirname "$0")/../.."
NAME=$1; shift
SAC=${SAC:-.build/release/sac}; R=${RUNS:-runs}/repro; A=training/repro/adapters/$NAME
[ -f $A/adapter_model.safetensors ] && { echo "$NAME: adapter kept ($A)"; exit 0; }
[ -f training/repro/results/$NAME-rerun.json ] && [ ! -f "$R/$NAME-rerun/done" ] && {
  echo "$NAME: $NAME-rerun was evaluated on another machine and its run is not here; remove training/repro/results/$NAME-rerun.* to train it again" >&2; exit 1; }
SAC=$SAC training/repro/arm.sh "$NAME-rerun" "$@"
rm -rf $A.tmp; mkdir -p training/repro/adapters
$SAC export-adapter --adapter "$R/$NAME-rerun" --dtype f16 --out $A.tmp
mv $A.tmp $A
