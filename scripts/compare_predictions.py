#!/usr/bin/env python3
"""Paired comparison of two `sac eval --predictions` files on the same questions: mean SQuAD F1
of each, their difference, and a bootstrap 95 % interval of the difference (questions resampled
with replacement, 10,000 times, seeded). Differences whose interval contains 0 are not decided.

Run: python3 scripts/compare_predictions.py A.jsonl B.jsonl [--names A B]   (.jsonl.gz read too)
"""
import argparse
import gzip
import json
import random
import re
import string
import sys
from collections import Counter


def normalize(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def f1(pred, gold):
    p, g = normalize(pred).split(), normalize(gold).split()
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if not p or not g:
        return float(p == g)
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def load(path):
    out = {}
    for line in (gzip.open(path, "rt") if path.endswith(".gz") else open(path)):
        if line.strip():
            r = json.loads(line)
            out[r["id"] + "\t" + r["question"]] = question_f1(r)
    return out


def question_f1(row):
    """SQuAD F1 of one `sac eval --predictions` row: the best over its answers (0 without any)."""
    return max((f1(row["prediction"], a) for a in row["answers"]), default=0.0)


def bootstrap_interval(d, samples=10000, seed=0):
    """95 % interval (low, high) of the mean of `d`, its items resampled with replacement."""
    rng, n = random.Random(seed), len(d)
    means = sorted(sum(d[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    return means[int(0.025 * samples)], means[int(0.975 * samples) - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--names", nargs=2, default=["A", "B"])
    ap.add_argument("--samples", type=int, default=10000)
    x = ap.parse_args()
    A, B = load(x.a), load(x.b)
    keys = sorted(set(A) & set(B))
    if not keys:
        sys.exit("no question in common")
    d = [B[k] - A[k] for k in keys]
    n = len(d)
    lo, hi = bootstrap_interval(d, x.samples)
    ma, mb = 100 * sum(A[k] for k in keys) / n, 100 * sum(B[k] for k in keys) / n
    print(f"{n} questions: {x.names[0]} F1 {ma:.2f}, {x.names[1]} F1 {mb:.2f}, "
          f"{x.names[1]} − {x.names[0]} = {mb - ma:+.2f} (95 % bootstrap interval {100 * lo:+.2f} … {100 * hi:+.2f})")


if __name__ == "__main__":
    main()
