#!/bin/bash
# Copy the campaign's newest checkpoint compactly into training/campaign/run (weights F16, the
# JSON log, best/), which git keeps and run.sh resumes from on a new machine. The Adam moments
# are left out (they are twice the weights, 9 MB a commit): the resume on a new machine starts
# AdamW afresh and re-warms the learning rate over 20 updates. MOMENTS=1 keeps them (BF16).
# Replaces the old copy only once the new one is whole. EVERY=N repeats it every N minutes.
# SNAPSHOTS=DIR also keeps each saved update's adapter (F16, no optimiser) as DIR/step-N, for
# weight averaging (`sac average-adapters`); DIR stays outside git.
set -e
cd "$(dirname "$0")/../.."
SAC=${SAC:-.build/release/sac}; R=${RUNS:-runs}; D=training/campaign
while :; do
  if [ -f "$R/campaign/checkpoints/latest" ]; then
    rm -rf "$D/run.new"
    nice -n 10 $SAC export-adapter --checkpoint $([ -n "${MOMENTS:-}" ] || echo --no-moments) --adapter "$R/campaign" --out "$D/run.new"
    rm -rf "$D/run.old"; [ -d "$D/run" ] && mv "$D/run" "$D/run.old"
    mv "$D/run.new" "$D/run"; rm -rf "$D/run.old"
    if [ -n "${SNAPSHOTS:-}" ]; then
      S=$(cat "$D/run/checkpoints/latest"); mkdir -p "$SNAPSHOTS"
      [ -d "$SNAPSHOTS/$S" ] || { rm -rf "$SNAPSHOTS/$S.new"; cp -r "$D/run/checkpoints/$S" "$SNAPSHOTS/$S.new" \
        && rm -f "$SNAPSHOTS/$S.new/optimizer.safetensors" && mv "$SNAPSHOTS/$S.new" "$SNAPSHOTS/$S"; }
    fi
    echo "$(date -u +%H:%M) saved update $(cat "$R/campaign/checkpoints/latest" 2>/dev/null)"
  fi
  [ -n "${EVERY:-}" ] || break
  sleep $((EVERY * 60))
done
