#!/usr/bin/env python3
"""Copies the small part of ../shared/golden that the parity tests need into the repo.

A user's clone has no ../shared, so the tests carry their own fixtures (under 5 MB):
prompt 0 and 1 logits in full, prompt 2 logits at a few positions (the full file is 44 MB;
when ../shared/golden is present the tests also check every position of it), the per-layer
hidden states of prompt 0, the token ids, the tokenizer cases and golden.json.
Usage: python3 scripts/make_golden_fixtures.py [SHARED_GOLDEN_DIR]
"""
import json, os, shutil, sys
import numpy as np

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "golden")
dst = os.path.join(os.path.dirname(__file__), "..", "Tests", "SACModelTests", "Fixtures", "golden")
os.makedirs(dst, exist_ok=True)
for name in ["golden.json", "tokenizer_cases.json", "p0_ids_i32le.bin", "p1_ids_i32le.bin", "p2_ids_i32le.bin",
             "p0_logits_f32le.bin", "p1_logits_f32le.bin", "p0_hidden_f32le.bin"]:
    shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
V = 49152
p2 = np.fromfile(os.path.join(src, "p2_logits_f32le.bin"), dtype="<f4").reshape(-1, V)
positions = [0, 113, p2.shape[0] - 2, p2.shape[0] - 1]
np.asarray(positions, dtype="<i4").tofile(os.path.join(dst, "p2_positions_i32le.bin"))
p2[positions].astype("<f4").tofile(os.path.join(dst, "p2_logits_subset_f32le.bin"))
print("wrote", dst, "p2 positions", positions)
