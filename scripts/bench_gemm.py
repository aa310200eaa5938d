#!/usr/bin/env python3
"""Compare `sac bench gemm` with numpy (OpenBLAS) on the same shapes and thread counts.

Each numpy thread count runs in its own subprocess with OPENBLAS_NUM_THREADS and
OMP_NUM_THREADS set before numpy is imported. Prints one table: shape (MxKxN), threads,
transpose case, sac GFLOP/s, numpy GFLOP/s, ratio. Best of several repetitions after a
warm-up on both sides.

Usage: python3 scripts/bench_gemm.py [--threads 1,2] [--shapes 512x576x576,...] [--cases NN,NT,TN]
                                     [--reps 5] [--rounds 2]
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAC = os.path.join(ROOT, ".build", "release", "sac")
DEFAULT_SHAPES = ("512x576x576,512x576x192,512x576x1536,512x1536x576,"
                  "512x576x49152,2048x2048x2048,1x576x49152")

# Runs inside a subprocess whose environment fixes the BLAS thread count.
NUMPY_WORKER = r"""
import json, sys, time
import numpy as np
shapes, cases, reps = json.loads(sys.argv[1])
out = []
rng = np.random.default_rng(1)
for (m, k, n) in shapes:
    for case in cases:
        ta, tb = case[0] == "T", case[1] == "T"
        a = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(np.float32)
        opa = a.T if ta else a
        opb = b.T if tb else b
        c = np.empty((m, n), dtype=np.float32)
        np.matmul(opa, opb, out=c)  # warm-up
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            np.matmul(opa, opb, out=c)
            best = min(best, time.perf_counter() - t0)
        out.append({"m": m, "k": k, "n": n, "case": case, "ms": best * 1e3,
                    "gflops": 2.0 * m * n * k / best / 1e9})
print(json.dumps(out))
"""


def parse_shapes(s):
    shapes = []
    for part in s.split(","):
        dims = [int(x) for x in part.lower().split("x")]
        if len(dims) != 3:
            sys.exit(f"bad shape {part!r}, expected MxKxN")
        shapes.append(tuple(dims))
    return shapes


def run_numpy(threads, shapes, cases, reps):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    res = subprocess.run([sys.executable, "-c", NUMPY_WORKER, json.dumps([shapes, cases, reps])],
                         env=env, check=True, capture_output=True, text=True)
    return json.loads(res.stdout)


def run_sac(threads, shapes, cases, reps):
    if not os.path.exists(SAC):
        subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True)
    cmd = [SAC, "bench", "gemm", "--json", "--threads", ",".join(map(str, threads)),
           "--shapes", ",".join(f"{m}x{k}x{n}" for m, k, n in shapes),
           "--cases", ",".join(cases), "--reps", str(reps)]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--shapes", default=DEFAULT_SHAPES)
    ap.add_argument("--cases", default="NN,NT,TN")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="alternating sac/numpy rounds")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    shapes = parse_shapes(args.shapes)
    cases = [c.strip().upper() for c in args.cases.split(",")]

    # The machine may be shared: alternate sac and numpy per (shape, threads) for several
    # rounds and keep each side's best, so that both see the same background load.
    sac, ref = {}, {}
    for _ in range(args.rounds):
        for shape in shapes:
            for t in threads:
                for r in run_sac([t], [shape], cases, args.reps):
                    key = (r["m"], r["k"], r["n"], t, r["case"])
                    sac[key] = max(sac.get(key, 0.0), r["gflops"])
                for r in run_numpy(t, [shape], cases, args.reps):
                    key = (r["m"], r["k"], r["n"], t, r["case"])
                    ref[key] = max(ref.get(key, 0.0), r["gflops"])

    print(f"{'shape (MxKxN)':<18} {'threads':>7} {'case':>4} {'sac GF/s':>9} {'numpy GF/s':>10} {'ratio':>6}")
    for (m, k, n) in shapes:
        for t in threads:
            for c in cases:
                key = (m, k, n, t, c)
                s, p = sac.get(key, float("nan")), ref.get(key, float("nan"))
                print(f"{f'{m}x{k}x{n}':<18} {t:>7} {c:>4} {s:>9.1f} {p:>10.1f} {s / p:>6.2f}")


if __name__ == "__main__":
    main()
