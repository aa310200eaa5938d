#!/bin/bash
# Copy the campaign's newest checkpoint compactly into training/campaign/run (weights F16, Adam
# moments BF16, the JSON log, best/), which git keeps and run.sh resumes from on a new machine.
# Replaces the old copy only once the new one is whole. EVERY=N repeats it every N minutes.
set -e
cd "$(dirname "$0")/../.."
SAC=${SAC:-.build/release/sac}; R=${RUNS:-runs}; D=training/campaign
while :; do
  if [ -f "$R/campaign/checkpoints/latest" ]; then
    rm -rf "$D/run.new"
    nice -n 10 $SAC export-adapter --checkpoint --adapter "$R/campaign" --out "$D/run.new"
    rm -rf "$D/run.old"; [ -d "$D/run" ] && mv "$D/run" "$D/run.old"
    mv "$D/run.new" "$D/run"; rm -rf "$D/run.old"
    echo "$(date -u +%H:%M) saved update $(cat "$R/campaign/checkpoints/latest" 2>/dev/null)"
  fi
  [ -n "${EVERY:-}" ] || break
  sleep $((EVERY * 60))
done
