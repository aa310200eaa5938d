#!/usr/bin/env python3
"""The reproduction's tables and plots (issue 23), generated from the arms' reports and logs.

Reads training/repro/results/ (what training/repro/*.sh write):
  NAME.json, NAME.train_log.jsonl [, NAME.pre_log.jsonl]   QA arms: `sac eval` on the first 300
                                                            questions of SQuAD-dev and DROP
  qmsum-NAME.json [, qmsum-NAME.train_log.jsonl]            summarization arms (QMSum test)
  qmsum-NAME.predictions.jsonl.gz                           their summaries, for paired ROUGE-1 F
  kv-NAME.json                                              `sac kv-similarity --json`
  NAME.predictions.jsonl.gz                                 trained QA arms' answers, in the
                                                            report's order (SQuAD-dev, then DROP)
and writes
  the part of docs/reproduction.md between the lines `<!-- repro:begin -->` and
  `<!-- repro:end -->` (the text around them is kept; the markers are appended if missing),
  docs/plots/repro-ratio.png    score against ratio per method, ours beside the paper's
  docs/plots/repro-curves.png   validation F1 against training minutes per arm
  docs/plots/repro-kv.png       per-layer cosine similarity of memory K/V to the context's
  the part of README.md between `<!-- repro-summary:begin -->` and `<!-- repro-summary:end -->`
                                (only where README.md has both markers): a short summary table
Differences between arms are paired (the same questions) with a bootstrap 95 % interval of the
difference in SQuAD F1 (questions resampled 10,000 times, seeded): an interval that contains 0
does not decide the order.
An arm without a report is listed as "not run"; nothing is typed in by hand.

Run: python3 scripts/repro_report.py [--results DIR] [--doc FILE] [--plots DIR] [--readme FILE]
"""
import argparse
import functools
import gzip
import json
import os
import re
import sys
from collections import Counter

from compare_predictions import bootstrap_interval, question_f1 as row_f1

# SPEC §8 (the paper, Llama-3.2-1B, in-domain MRQA average, ROUGE-1 F / EM).
PAPER_TABLE1 = {
    ("icae", 5): (47.53, 33.82), ("500x", 5): (55.26, 40.14), ("epl", 5): (62.90, 46.33), ("sac", 5): (63.63, 46.95),
    ("icae", 15): (44.50, 31.28), ("500x", 15): (49.35, 34.98), ("epl", 15): (51.52, 36.65), ("sac", 15): (54.95, 39.67),
    ("icae", 51): (40.39, 27.99), ("500x", 51): (43.19, 30.26), ("epl", 51): (43.22, 30.26), ("sac", 51): (46.37, 33.08),
}
# (arm, method label, method key, ratio): Table 1.
METHODS = [
    ("full", "`full` (LoRA, no compression; reference)", "full", 1),
    ("tokens5", "`tokens` 5x (anchor tokens as text; reference)", "tokens", 5),
    ("icae5", "ICAE 5x", "icae", 5),
    ("500x5", "500xCompressor 5x", "500x", 5),
    ("epl5", "EPL 5x", "epl", 5),
    ("sac5", "SAC 5x", "sac", 5),
    ("tokens15", "`tokens` 15x (reference)", "tokens", 15),
    ("epl15", "EPL 15x", "epl", 15),
    ("sac15", "SAC 15x", "sac", 15),
]
# (arm, label, the paper's in-domain ROUGE-1 F at 5x or None, the arm it is compared with): Table 4.
# The paper's SAC is pre-trained with LM before QA fine-tuning; `sac5` here is QA fine-tuning alone
# (the campaign's recipe), `sac5-lm` the paper's two phases. Each ablation is compared with the arm
# that differs from it in that one thing: the component ablations (QA only) with `sac5`, AE+LM
# pre-training with LM pre-training, and LM pre-training with none (at equal total time; the paper
# has no arm without pre-training, so that comparison has no paper verdict).
ABLATIONS = [
    ("sac5", "SAC 5x (QA fine-tuning only)", None, None),
    ("sac5-lm", "SAC 5x, LM pre-training then QA (the paper's SAC)", 63.63, "sac5"),
    ("sac5-aelm", "SAC 5x, AE+LM pre-training then QA", 62.04, "sac5-lm"),
    ("sac5-causal", "without the bidirectional mask (causal)", 60.26, "sac5"),
    ("sac5-noemb", "without the anchor embedding", 61.27, "sac5"),
    ("sac5-shared", "one shared anchor embedding (not per slot)", None, "sac5"),
    ("sac5-random", "random anchors", 59.54, "sac5"),
]
# (arm, its replicate): the same arm trained again on another machine by rerun.sh (same recipe,
# binary and seed), which shows how far two runs of one arm land apart.
REPLICATES = [("sac15", "sac15-rerun"), ("epl15", "epl15-rerun")]
# (arm, label, the paper's QMSum ROUGE-1 F at 15x with 32K inputs or None): Table 8.
SUMMARIES = [
    ("frozen", "frozen model reading the cut transcript", None),
    ("epl15", "EPL 15x", 14.82),
    ("sac15", "SAC 15x", 14.95),
]
# Short names of the methods, in the tables' sentences and the plots' legends.
NAMES = {"sac": "SAC", "epl": "EPL", "500x": "500x", "icae": "ICAE", "tokens": "tokens"}
BEGIN, END = "<!-- repro:begin -->", "<!-- repro:end -->"
SUMMARY_BEGIN, SUMMARY_END = "<!-- repro-summary:begin -->", "<!-- repro-summary:end -->"


@functools.lru_cache(maxsize=None)
def read_json(path):
    """A report, read once (the tables and the plots share it; not to be modified)."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def read_log(path):
    """Rows of a train_log.jsonl, the last line of each update winning (resumed runs)."""
    if not os.path.exists(path):
        return []
    by_step = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue
                by_step[r["step"]] = r
    return [by_step[k] for k in sorted(by_step)]


def read_predictions(results, name):
    """(report, prediction rows, the predictions file's path) of the report NAME.json and
    NAME.predictions.jsonl.gz, or None where either is missing."""
    path = os.path.join(results, f"{name}.predictions.jsonl.gz")
    rep = read_json(os.path.join(results, f"{name}.json"))
    if rep is None or not os.path.exists(path):
        return None
    with gzip.open(path, "rt") as f:
        return rep, [json.loads(line) for line in f if line.strip()], path


@functools.lru_cache(maxsize=None)
def arm_f1(results, arm):
    """{data-set name: [SQuAD F1 of each question, in order]} from an arm's predictions file
    (None without one). The file lists the report's data sets one after the other, each with the
    report's `count` lines; a file that does not match the report is an error, not a guess."""
    found = read_predictions(results, arm)
    if found is None:
        return None
    rep, rows, path = found
    counts = [(d["name"], d["count"]) for d in rep["datasets"]]
    if len(rows) != sum(c for _, c in counts):
        sys.exit(f"{path}: {len(rows)} predictions, expected {sum(c for _, c in counts)} ({counts} in {arm}.json)")
    out, i = {}, 0
    for name, count in counts:
        out[name] = [row_f1(r) for r in rows[i:i + count]]
        i += count
    return out


@functools.lru_cache(maxsize=None)
def paired(results, a, b, name, samples=10000):
    """(mean F1 of b − a, low, high) in points on data set `name`, or None without predictions."""
    qa, qb = arm_f1(results, a), arm_f1(results, b)
    if not qa or not qb or name not in qa or name not in qb or len(qa[name]) != len(qb[name]):
        return None
    return mean_difference(qa[name], qb[name], samples)


def mean_difference(xa, xb, samples=10000):
    """(mean of xb − xa, low, high) in points (scores in [0, 1]), pair by pair, with the bootstrap
    95 % interval of the mean."""
    d = [y - x for x, y in zip(xa, xb)]
    lo, hi = bootstrap_interval(d, samples)
    return 100 * sum(d) / len(d), 100 * lo, 100 * hi


def interval_text(m, lo, hi):
    """'+m (lo … hi)', with ', not decided' where the interval contains 0."""
    decided = lo > 0 or hi < 0
    return f"{m:+.2f} ({lo:+.2f} … {hi:+.2f}){'' if decided else ', not decided'}"


def difference(results, a, b):
    """'b − a' SQuAD F1 on SQuAD-dev and on DROP with intervals, marked when decided."""
    parts = []
    for name in ("SQuAD-dev", "DROP"):
        r = paired(results, a, b, name)
        if r is None:
            return None
        parts.append(f"{name} {interval_text(*r)}")
    return "; ".join(parts)


def dataset(report, name):
    for d in (report or {}).get("datasets", []):
        if d["name"] == name:
            return d
    return None


def pair(a, b):
    return "–" if a is None or b is None else f"{a:.2f} / {b:.2f}"


def cell(row, a, b):
    """'A / B' of two fields of a report's data-set row, or – without the row."""
    return pair(row[a], row[b]) if row else "–"


def budget(results, arm, prefix=""):
    """Updates and training minutes of an arm (pre-training phase included, as `pre + qa`)."""
    qa = read_log(os.path.join(results, f"{prefix}{arm}.train_log.jsonl"))
    pre = read_log(os.path.join(results, f"{prefix}{arm}.pre_log.jsonl"))
    if not qa:
        return "–", "–", 0.0
    minutes = qa[-1].get("trainSeconds", 0) / 60
    updates = str(qa[-1]["step"])
    if pre:
        pm = pre[-1].get("trainSeconds", 0) / 60
        updates = f"{pre[-1]['step']} + {updates}"
        return updates, f"{pm:.0f} + {minutes:.0f}", pm + minutes
    return updates, f"{minutes:.0f}", minutes


def at_updates(results, arm, steps=(100, 200)):
    """Held-out validation SQuAD F1 and answer cross-entropy at the same update counts for every
    arm ('F1 (loss) / F1 (loss)'), the paper's footing (equal updates) beside the tables' equal
    time; – where not reached. The loss (first 32 questions' reference answers) is the finer signal."""
    v = {r["step"]: r for r in read_log(os.path.join(results, f"{arm}.train_log.jsonl"))
         if r.get("validF1") is not None}
    return " / ".join(f"{v[s]['validF1']:.2f} ({v[s]['validLoss']:.2f})" if s in v else "–" for s in steps)


def methods_table(results, out):
    out.append("| method | achieved ratio (SQuAD-dev / DROP) | SQuAD-dev ROUGE-1 F / EM | DROP ROUGE-1 F / EM "
               "| SQuAD-dev SQuAD F1 / EM | DROP SQuAD F1 / EM | updates | training min | valid F1 (answer loss) at 100 / 200 updates "
               "| paper (ROUGE-1 F / EM) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    scores = {}
    for arm, label, key, ratio in METHODS:
        rep = read_json(os.path.join(results, f"{arm}.json"))
        paper = PAPER_TABLE1.get((key, ratio))
        paper_cell = pair(*paper) if paper else "–"
        if rep is None:
            out.append(f"| {label} | not run | | | | | | | | {paper_cell} |")
            continue
        sq, dr = dataset(rep, "SQuAD-dev"), dataset(rep, "DROP")
        updates, minutes, _ = budget(results, arm)
        out.append("| " + " | ".join([
            label,
            f"{sq['ratio']:.2f} / {dr['ratio']:.2f}" if sq and dr else "–",
            cell(sq, "rouge1_f", "em"), cell(dr, "rouge1_f", "em"),
            cell(sq, "squad_f1", "squad_em"), cell(dr, "squad_f1", "squad_em"),
            updates, minutes, at_updates(results, arm) if updates != "–" else "–", paper_cell]) + " |")
        if sq:
            scores[(key, ratio)] = sq["rouge1_f"]
    return scores


def ordering(scores, ratio, out):
    """Says whether our order of the compressors at `ratio` is the paper's."""
    keys = [k for k in ("sac", "epl", "500x", "icae") if (k, ratio) in scores and (k, ratio) in PAPER_TABLE1]
    if len(keys) < 2:
        return
    ours = sorted(keys, key=lambda k: -scores[(k, ratio)])
    paper = sorted(keys, key=lambda k: -PAPER_TABLE1[(k, ratio)][0])
    o = " > ".join(f"{NAMES[k]} ({scores[(k, ratio)]:.2f})" for k in ours)
    p = " > ".join(NAMES[k] for k in paper)
    verdict = "the same as the paper's" if ours == paper else f"not the paper's ({p})"
    out.append(f"\nAt {ratio}x, by SQuAD-dev ROUGE-1 F: {o}: {verdict}.")


def differences(results, ratio, out):
    """SAC against each other compressor at `ratio`: paired SQuAD F1 differences."""
    arms = {key: arm for arm, _, key, r in METHODS if r == ratio}
    if "sac" not in arms:
        return
    for key in ("epl", "500x", "icae", "tokens"):
        if key in arms:
            d = difference(results, arms[key], arms["sac"])
            if d:
                out.append(f"- SAC {ratio}x − {NAMES[key]} {ratio}x, SQuAD F1: {d}")


def ablations_table(results, out):
    out.append("| arm | SQuAD-dev ROUGE-1 F / EM | DROP ROUGE-1 F / EM | SQuAD-dev SQuAD F1 / EM "
               "| updates | training min | valid F1 (answer loss) at 100 / 200 QA updates | paper (in-domain ROUGE-1 F) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    scores = {}
    for arm, label, paper, _ in ABLATIONS:
        rep = read_json(os.path.join(results, f"{arm}.json"))
        pc = f"{paper:.2f}" if paper is not None else "–"
        if rep is None:
            out.append(f"| {label} | not run | | | | | | {pc} |")
            continue
        sq, dr = dataset(rep, "SQuAD-dev"), dataset(rep, "DROP")
        updates, minutes, _ = budget(results, arm)
        out.append("| " + " | ".join([
            label, cell(sq, "rouge1_f", "em"), cell(dr, "rouge1_f", "em"),
            cell(sq, "squad_f1", "squad_em"), updates, minutes, at_updates(results, arm), pc]) + " |")
        if sq:
            scores[arm] = sq["rouge1_f"]
    # In the paper every ablation is set against its SAC (LM pre-trained), whichever arm it is
    # compared with here; LM pre-training itself is that SAC, so it gets no paper verdict.
    sac_paper = PAPER_TABLE1[("sac", 5)][0]
    for arm, label, paper, ref in ABLATIONS:
        if ref is None or arm not in scores or ref not in scores:
            continue
        d = difference(results, ref, arm)
        sq = paired(results, ref, arm, "SQuAD-dev")  # cached: difference() asked for it
        side = None if sq is None else "below" if sq[2] < 0 else "above" if sq[1] > 0 else None
        verdict = ("no paired answers to decide it" if sq is None else
                   f"{side} it" if side else "not separated from it")
        if paper is not None and paper != sac_paper:
            paper_side = "below" if paper < sac_paper else "above"
            verdict += ", as in the paper" if side == paper_side else f" (the paper: {paper_side})"
        out.append(f"\n- {label}: SQuAD-dev ROUGE-1 F {scores[arm]:.2f} against {scores[ref]:.2f} ({ref}); "
                   f"by the paired SQuAD F1 on SQuAD-dev, {verdict}."
                   + (f" Paired SQuAD F1, {arm} − {ref}: {d}." if d else ""))


def replicates_table(results, out):
    """Each arm beside its replicate (rerun.sh): scores, updates and the paired difference."""
    out.append("| arm | SQuAD-dev SQuAD F1 / EM | DROP SQuAD F1 / EM | updates | replicate: SQuAD-dev | DROP "
               "| updates | paired SQuAD F1, replicate − arm |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---|")

    def columns(name):
        """SQuAD-dev and DROP SQuAD F1 / EM and updates of one arm; (columns, whether it ran)."""
        rep = read_json(os.path.join(results, f"{name}.json"))
        if rep is None:
            return ["not run", "", ""], False
        return [cell(dataset(rep, "SQuAD-dev"), "squad_f1", "squad_em"),
                cell(dataset(rep, "DROP"), "squad_f1", "squad_em"), budget(results, name)[0]], True

    for arm, rerun in REPLICATES:
        (a, ran_a), (b, ran_b) = columns(arm), columns(rerun)
        d = difference(results, arm, rerun) if ran_a and ran_b else None
        out.append("| " + " | ".join([arm] + a + b + [d or "–"]) + " |")


def summaries_table(results, out):
    out.append("| method | ROUGE-1 F | ROUGE-2 F | ROUGE-L F | achieved ratio | memory (MB, F16) | compress ms "
               "| first token ms | answer ms | updates | training min | paper (QMSum ROUGE-1 F, 32K inputs) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for arm, label, paper in SUMMARIES:
        rep = read_json(os.path.join(results, f"qmsum-{arm}.json"))
        pc = f"{paper:.2f}" if paper is not None else "–"
        if rep is None:
            out.append(f"| {label} | not run | | | | | | | | | | {pc} |")
            continue
        d = rep["datasets"][0]
        updates, minutes, _ = budget(results, arm, prefix="qmsum-")

        def f(k, fmt="{:.2f}", scale=1.0):
            v = d.get(k)
            return "–" if v is None else fmt.format(v * scale)
        out.append("| " + " | ".join([
            label, f("summary_rouge1_f"), f("summary_rouge2_f"), f("summary_rougeL_f"), f("ratio"),
            f("memory_bytes", "{:.1f}", 1e-6), f("compress_ms", "{:.0f}"), f("first_token_ms", "{:.0f}"),
            f("answer_ms", "{:.0f}"), updates, minutes, pc]) + " |")


def rouge_tokens(text):
    """`SummaryMetrics.tokens`: lowercased, split at every character other than an ASCII letter or digit."""
    return re.findall(r"[a-z0-9]+", text.lower())


def rouge1_f(prediction, reference):
    """`SummaryMetrics.rougeN(n: 1).f`: F of the unigram multisets' overlap (0 for an empty text)."""
    p, r = Counter(rouge_tokens(prediction)), Counter(rouge_tokens(reference))
    overlap = sum((p & r).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(p.values()), overlap / sum(r.values())
    return 2 * precision * recall / (precision + recall)


@functools.lru_cache(maxsize=None)
def summary_rouge1(results, arm):
    """[ROUGE-1 F of each QMSum query's summary against its first reference] of a summarization
    arm, in the report's order (None without predictions). Their mean must be the report's
    summary_rouge1_f (to 0.01 points): a check that this is the metric `sac eval` computed."""
    found = read_predictions(results, f"qmsum-{arm}")
    if found is None:
        return None
    rep, rows, path = found
    d = rep["datasets"][0]
    if len(rows) != d["count"]:
        sys.exit(f"{path}: {len(rows)} predictions, expected {d['count']} (qmsum-{arm}.json)")
    scores = [rouge1_f(r["prediction"], r["answers"][0]) if r["answers"] else 0.0 for r in rows]
    mean = 100 * sum(scores) / len(scores)
    if abs(mean - d["summary_rouge1_f"]) > 0.01:
        sys.exit(f"{path}: mean ROUGE-1 F {mean:.4f} here against {d['summary_rouge1_f']:.4f} in qmsum-{arm}.json")
    return scores


def summary_differences(results, out):
    """Paired ROUGE-1 F differences between the summarization arms (the same queries)."""
    lines = []
    for a, b in (("epl15", "sac15"), ("frozen", "sac15"), ("frozen", "epl15")):
        qa, qb = summary_rouge1(results, a), summary_rouge1(results, b)
        if qa is None or qb is None or len(qa) != len(qb):
            continue
        lines.append(f"- {b} − {a}: {interval_text(*mean_difference(qa, qb))}")
    if lines:
        out += ["", "Paired ROUGE-1 F differences (the same queries; bootstrap 95 % interval of the mean difference):", ""]
        out += lines


def kv_table(results, out):
    found = []
    for arm, label in (("sac5", "SAC 5x"), ("epl5", "EPL 5x")):
        kv = read_json(os.path.join(results, f"kv-{arm}.json"))
        if kv is None:
            out.append(f"- {label}: not run")
            continue
        keys, values = kv["keys"], kv["values"]
        found.append((label, kv))
        out.append(f"- {label}: mean over {len(keys)} layers, keys {sum(keys) / len(keys):.3f}, values "
                   f"{sum(values) / len(values):.3f} (last layer {keys[-1]:.3f} / {values[-1]:.3f}; "
                   f"{kv.get('carriers', '?')} carriers of {kv.get('contexts', '?')} contexts"
                   + (f"; {kv['outside']} past a context's end left out" if kv.get("outside") else "") + ")")
    return found


def readme_summary(results):
    """The README's short table: each compressor's SQuAD F1 beside the paper's ROUGE-1 F."""
    out = [SUMMARY_BEGIN, "",
           "| method | achieved ratio | SQuAD-dev SQuAD F1 | DROP SQuAD F1 | training | paper (ROUGE-1 F, Llama-3.2-1B) |",
           "|---|---:|---:|---:|---:|---:|"]
    for arm, label, key, ratio in METHODS:
        rep = read_json(os.path.join(results, f"{arm}.json"))
        paper = PAPER_TABLE1.get((key, ratio))
        pc = f"{paper[0]:.2f}" if paper else "–"
        if rep is None:
            out.append(f"| {label} | not run yet | | | | {pc} |")
            continue
        sq, dr = dataset(rep, "SQuAD-dev"), dataset(rep, "DROP")
        updates, minutes, _ = budget(results, arm)
        training = "–" if updates == "–" else f"{updates} updates, {minutes} min"
        out.append("| " + " | ".join([
            label, f"{sq['ratio']:.2f}" if sq else "–",
            f"{sq['squad_f1']:.2f}" if sq else "–", f"{dr['squad_f1']:.2f}" if dr else "–",
            training, pc]) + " |")
    out += ["", SUMMARY_END]
    return "\n".join(out)


def replace_between(path, begin, end, block, append=True):
    """Writes `block` (which holds the markers) over the text between the markers of `path`
    (atomically); without the markers appends it where `append`, else leaves the file alone."""
    text = open(path).read() if os.path.exists(path) else "# Reproducing the paper's comparisons\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    elif append:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        return False
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return True


def plots(results, plots_dir, kv):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing: no plots", file=sys.stderr)
        return []
    os.makedirs(plots_dir, exist_ok=True)
    written = []

    def save(fig, name):
        path = os.path.join(plots_dir, name)
        tmp = path + ".tmp.png"
        fig.tight_layout()
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
        plt.close(fig)
        written.append(path)

    # Score against ratio: ours (SQuAD-dev ROUGE-1 F) beside the paper's (in-domain ROUGE-1 F).
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"sac": "C0", "epl": "C1", "500x": "C2", "icae": "C3", "tokens": "C7"}  # the same in both panels
    for key, name in NAMES.items():
        pts = []
        for arm, _, k, ratio in METHODS:
            rep = read_json(os.path.join(results, f"{arm}.json"))
            sq = dataset(rep, "SQuAD-dev")
            if k == key and sq:
                pts.append((ratio, sq["rouge1_f"]))
        if pts:
            a1.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colors[key], label=name)
        pp = sorted((r, v[0]) for (k, r), v in PAPER_TABLE1.items() if k == key)
        if pp:
            a2.plot([p[0] for p in pp], [p[1] for p in pp], marker="o", color=colors[key], label=name)
    full = dataset(read_json(os.path.join(results, "full.json")), "SQuAD-dev")
    if full:
        a1.axhline(full["rouge1_f"], color="gray", ls="--", label="full")
    a1.set_title("SmolLM2-135M here: SQuAD-dev, first 300", fontsize=9)
    a2.set_title("the paper: Llama-3.2-1B, in-domain MRQA average", fontsize=9)
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xticks([5, 15, 51])
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.get_xaxis().set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("compression ratio")
        ax.set_ylabel("ROUGE-1 F")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save(fig, "repro-ratio.png")

    # Learning curves: validation F1 against training minutes (pre-training phases first).
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for arm in dict.fromkeys([a for a, *_ in METHODS] + [a for a, *_ in ABLATIONS] + [r for _, r in REPLICATES]):
        pre = read_log(os.path.join(results, f"{arm}.pre_log.jsonl"))
        qa = read_log(os.path.join(results, f"{arm}.train_log.jsonl"))
        offset = pre[-1].get("trainSeconds", 0) if pre else 0
        v = [r for r in qa if r.get("validF1") is not None]
        if v:
            ax.plot([(offset + r["trainSeconds"]) / 60 for r in v], [r["validF1"] for r in v],
                    marker="o", ms=3, label=arm)
    ax.set_xlabel("minutes of training (validation excluded; pre-training included)")
    ax.set_ylabel("validation SQuAD F1 (200 held-out)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save(fig, "repro-curves.png")

    if kv:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for label, d in kv:
            a1.plot(range(len(d["keys"])), d["keys"], marker="o", ms=3, label=label)
            a2.plot(range(len(d["values"])), d["values"], marker="o", ms=3, label=label)
        for ax, what in ((a1, "keys"), (a2, "values")):
            ax.set_xlabel("layer")
            ax.set_ylabel(f"cosine similarity of {what}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle("Memory K/V against the context's K/V at the same positions (frozen model)", fontsize=10)
        save(fig, "repro-kv.png")
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="training/repro/results")
    ap.add_argument("--doc", default="docs/reproduction.md")
    ap.add_argument("--plots", default="docs/plots")
    ap.add_argument("--readme", default="README.md")
    a = ap.parse_args()
    if not os.path.isdir(a.results):
        sys.exit(f"{a.results}: no such directory (run training/repro/all.sh first)")

    out = [BEGIN, "", "### Table 1: methods (first 300 questions of SQuAD-dev and DROP, greedy)", "",
           "Equal time: each trained arm's adapter after its 40 minutes. The paper compares at equal updates: "
           "the column before the paper's gives each arm's held-out validation F1 (200 SQuAD-train questions) "
           "and, in brackets, the frozen decoder's mean cross-entropy of the reference answers of the first 32 "
           "of them (nats per token: a finer signal than greedy F1, which 200 questions move by about ±2) "
           "at 100 and 200 updates.", ""]
    scores = methods_table(a.results, out)
    for ratio in (5, 15):
        ordering(scores, ratio, out)
    out += ["", "Paired differences (the same questions; bootstrap 95 % interval of the mean difference):", ""]
    for ratio in (5, 15):
        differences(a.results, ratio, out)
    out += ["", "### Table 4: ablations of SAC at 5x", ""]
    ablations_table(a.results, out)
    out += ["", "### Replicates: one arm trained twice", "",
            "The QMSum arms start from the QA arms sac15 and epl15; where a machine lacked their runs, "
            "`training/repro/rerun.sh` trained them again (same recipe, binary and seed, another host, so "
            "another number of updates in the same 40 minutes) and evaluated the copy:", ""]
    replicates_table(a.results, out)
    out += ["", "### Table 8: long-context summarization (QMSum test, 35 meetings)", ""]
    summaries_table(a.results, out)
    summary_differences(a.results, out)
    out += ["", "### Memory K/V against the context's (the paper's analysis claim)", ""]
    kv = kv_table(a.results, out)
    written = plots(a.results, a.plots, kv)
    rel = os.path.relpath(a.plots, os.path.dirname(a.doc) or ".")
    out += [""] + [f"![{os.path.basename(p)}]({rel}/{os.path.basename(p)})" for p in written]
    out += ["", END]
    block = "\n".join(out)

    replace_between(a.doc, BEGIN, END, block)
    readme = replace_between(a.readme, SUMMARY_BEGIN, SUMMARY_END, readme_summary(a.results), append=False)
    print(f"wrote {a.doc}{', ' + a.readme if readme else ''} and {len(written)} plot(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
