#!/usr/bin/env python3
"""The README's quality table: `sac eval` for each method on the same questions, one JSON report
per row in docs/results/, and the Markdown table made from those reports (never typed).

Rows (name=eval options); defaults are the shipped SAC adapter, `full` (--full-adapter),
`tokens` 5x and the no-context reference. Data: the first --limit questions of SQuAD-dev and
DROP, and with --multi-chunk also SQuAD-dev with each paragraph among three others
(`sac eval --distractors 3`).

Run:    python3 scripts/quality_table.py --full-adapter runs/teacher-full [--multi-chunk] [--only-table]
Output: docs/results/quality-<row>[-mc].json and the table on stdout.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sac", default=os.path.join(ROOT, ".build/release/sac"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "mrqa"))
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--full-adapter", help="a `full` adapter directory (row omitted without it)")
    ap.add_argument("--adapter", default=os.path.join(ROOT, "adapters/sac-smollm2-5x"), help="the SAC adapter")
    ap.add_argument("--row", action="append", default=[], help="extra NAME=eval options, e.g. 'sac 2x=--adapter runs/x'")
    ap.add_argument("--multi-chunk", action="store_true", help="also the multi-chunk SQuAD-dev set (--distractors 3)")
    ap.add_argument("--only-table", action="store_true", help="do not run sac eval, use the reports present")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "results"))
    a = ap.parse_args()

    rows = [("sac 5x", f"--adapter {a.adapter}")]
    if a.full_adapter:
        rows.insert(0, ("full", f"--adapter {a.full_adapter}"))
    rows += [("tokens 5x", "--method tokens --ratio 5"), ("no context", "--no-context")]
    for r in a.row:
        name, opts = r.split("=", 1)
        rows.append((name, opts))

    def slug(name):
        return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")

    sets = [("", [f"{a.data}/SQuAD-dev.jsonl.gz", f"{a.data}/DROP.jsonl.gz"], [])]
    if a.multi_chunk:
        sets.append(("-mc", [f"{a.data}/SQuAD-dev.jsonl.gz"], ["--distractors", "3"]))
    reports = {}
    for name, opts in rows:
        for suffix, files, extra in sets:
            path = os.path.join(a.out, f"quality-{slug(name)}{suffix}.json")
            if not a.only_table:
                cmd = [a.sac, "eval", "--data", *files, "--limit", str(a.limit), "--json", path, *opts.split(), *extra]
                print("+", " ".join(cmd), file=sys.stderr)
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            if os.path.exists(path):
                for d in json.load(open(path))["datasets"]:
                    reports[(name, d["name"])] = d

    names = []
    for (_, ds) in reports:
        if ds not in names:
            names.append(ds)
    head = "| method | " + " | ".join(f"{n} SQuAD F1 / EM | {n} ROUGE-1 F / EM" for n in names) + " | ratio (first set) |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for name, _ in rows:
        cells = []
        ratio = ""
        for n in names:
            d = reports.get((name, n))
            if d is None:
                cells += ["–", "–"]
                continue
            cells.append(f"{d['squad_f1']:.2f} / {d['squad_em']:.2f}")
            cells.append(f"{d['rouge1_f']:.2f} / {d['em']:.2f}")
            ratio = ratio or f"{d['ratio']:.2f}"
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio} |")


if __name__ == "__main__":
    main()
