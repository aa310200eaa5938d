#!/usr/bin/env python3
"""Learning curves of `sac train` runs from their JSON-lines logs (train_log.jsonl).

For each run given as NAME=PATH: validation SQuAD F1 (greedy, held-out questions) against
updates and against hours of training (validation time excluded), as one PNG with two panels,
and a Markdown table on stdout: per run the updates and examples done, training hours, the
last and best validation F1/EM and, with --at-minutes M, the validation F1 at the last
validation within M minutes of training (the equal-wall-time comparison).

A resumed run logs again the updates after its last checkpoint; the last line of each update
wins (the earlier ones were discarded work).

A run of several phases (LM pre-training, then QA fine-tuning from it with --init) is given as
NAME=PATH1@BATCH1+PATH2@BATCH2: the phases are joined end to end, updates and training time of
each following on from the previous one's (@BATCH: examples per update of that phase; default
--batch). A phase may end early: PATH@BATCH^LAST keeps its updates up to LAST only (a branch
that started from that update of the run, e.g. a decay branch, is then the next phase).

Run: python3 scripts/plot_training.py --out docs/plots/ab.png A=runs/a/train_log.jsonl B=...
"""
import argparse
import json
import os
import sys


def load(path):
    by_step = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                print(f"{path}: skipped a line that is not JSON", file=sys.stderr)
                continue
            by_step[r["step"]] = r
    rows = [by_step[k] for k in sorted(by_step)]
    for r in rows:
        r.setdefault("trainSeconds", r.get("elapsedSeconds", 0.0))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="NAME=PATH of a train_log.jsonl")
    ap.add_argument("--out", help="PNG to write")
    ap.add_argument("--batch", type=int, default=8, help="examples per update, for the examples column")
    ap.add_argument("--at-minutes", type=float, help="also report F1 at the last validation within this much training")
    ap.add_argument("--loss", action="store_true", help="add a third panel: the validation loss against updates")
    ap.add_argument("--title", default="Validation SQuAD F1 (held-out SQuAD-train contexts, greedy)")
    a = ap.parse_args()
    runs = []
    for spec in a.runs:
        if "=" not in spec:
            sys.exit(f"expected NAME=PATH, got {spec}")
        name, paths = spec.split("=", 1)
        rows, step0, seconds0, examples = [], 0, 0.0, 0
        for part in paths.split("+"):
            part, _, last = part.partition("^")
            path, _, b = part.partition("@")
            if not os.path.exists(path):
                sys.exit(f"{path}: no such log")
            phase = load(path)
            if last:
                if not last.isdigit():
                    sys.exit(f"{spec}: expected ^LAST to be an update number, got ^{last}")
                phase = [r for r in phase if r["step"] <= int(last)]
            for r in phase:
                r = dict(r)
                r["examples"] = examples + r["step"] * (int(b) if b else a.batch)
                r["step"] += step0
                r["trainSeconds"] += seconds0
                r["phaseStart"] = r["step"] == step0 + 1 and step0 > 0
                rows.append(r)
            if rows:
                step0, seconds0, examples = rows[-1]["step"], rows[-1]["trainSeconds"], rows[-1]["examples"]
        runs.append((name, rows))

    head = "| run | updates | examples | training h | last F1 / EM | best F1 (update)"
    if a.at_minutes:
        head += f" | F1 at the {a.at_minutes:g}-minute mark (update)"
    head += " |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for name, rows in runs:
        if not rows:
            print(f"| {name} | 0 | 0 | 0 | – | – |")
            continue
        v = [r for r in rows if r.get("validF1") is not None]
        last = rows[-1]
        cells = [name, str(last["step"]), str(last["examples"]), f"{last['trainSeconds'] / 3600:.2f}"]
        if v:
            best = max(v, key=lambda r: r["validF1"])
            cells.append(f"{v[-1]['validF1']:.2f} / {v[-1]['validEM']:.2f}")
            cells.append(f"{best['validF1']:.2f} ({best['step']})")
        else:
            cells += ["–", "–"]
        if a.at_minutes:
            # The run's last update at the mark ends a little past it (--train-minutes stops after it).
            w = [r for r in v if r["trainSeconds"] <= a.at_minutes * 60 + 120]
            cells.append(f"{w[-1]['validF1']:.2f} ({w[-1]['step']})" if w else "–")
        print("| " + " | ".join(cells) + " |")

    if a.out:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        if a.loss:
            fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.2))
        else:
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        # Later runs are often branches drawn over an earlier run's first phases: thinner and
        # dashed, so that the run below stays visible.
        for i, (name, rows) in enumerate(runs):
            v = [r for r in rows if r.get("validF1") is not None]
            if not v:
                continue
            style = dict(marker="o", ms=3, label=name, lw=2.2 - 0.5 * min(i, 2), ls="-" if i == 0 else "--")
            ax1.plot([r["step"] for r in v], [r["validF1"] for r in v], **style)
            ax2.plot([r["trainSeconds"] / 3600 for r in v], [r["validF1"] for r in v], **style)
            if a.loss:
                lv = [r for r in rows if r.get("validLoss") is not None]
                ax3.plot([r["step"] for r in lv], [r["validLoss"] for r in lv], **style)
        ax1.set_xlabel("updates")
        ax2.set_xlabel("hours of training (validation excluded)")
        for ax in (ax1, ax2):
            ax.set_ylabel("validation SQuAD F1")
        axes = (ax1, ax2)
        if a.loss:
            ax3.set_xlabel("updates")
            ax3.set_ylabel("validation loss (answer cross-entropy)")
            axes = (ax1, ax2, ax3)
        for ax in axes:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(a.title, fontsize=10)
        fig.tight_layout()
        tmp = a.out + ".tmp.png"
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, a.out)
        print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
