#!/usr/bin/env python3
"""Generated tokenizer cases: whitespace runs before number characters (issue: tokenizer parity).

Every text puts a run of whitespace (spaces, tabs, newlines, CR/CRLF, no-break and other Unicode
spaces; lengths 1-5, mixed) before a number character (ASCII digits, superscripts, vulgar
fractions, Roman numerals, circled numbers, Arabic-Indic, Devanagari and full-width digits), at the
start, in the middle and at the end of a text, and records:
  ids:        transformers' tokenizer loaded from the SmolLM2-135M-Instruct GGUF
              (AutoTokenizer.from_pretrained(dir, gguf_file=...), add_special_tokens=False): the
              project's reference, and what `sac tokenize` must return for the GGUF.
  ids_smollm: the tokenizers library with SmolLM2's original pre-tokenizer,
              Sequence[Digits(individual_digits=True), ByteLevel] (the `.smollm` kind, used when a
              tokenizer.json says so).
Writes Tests/SACModelTests/Fixtures/tokenizer/number_whitespace_cases.json.
Run: python3 scripts/make_number_whitespace_fixtures.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
"""
import json
import os
import random
import sys

from tokenizers import pre_tokenizers
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "SACModelTests", "Fixtures", "tokenizer", "number_whitespace_cases.json")
GGUF = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/sac/models/SmolLM2-135M-Instruct.Q4_1.gguf")

SPACES = [" ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2003", "\u2028", "\u2029", "\x0b", "\x0c",
          "\u0085", "\u202f", "\u1680"]
NUMBERS = ["0", "1", "2", "7", "9", "2019", "42", "3.5", "1,000", "²", "³", "¹", "½", "¾", "⅓", "Ⅻ", "Ⅷ", "ⅳ",
           "①", "⑳", "٣", "٤٥", "४२", "１２", "〇", "𝟙", "1st", "12th", "½cup", "Ⅻ."]
BEFORE = ["", "Total:", "items:", "x", "see", "Page", "price", "Chapter", "a.", "(", "—", "日本", "é", "1", "²", "'s"]
AFTER = ["", " was a year", ". first", " kg", "\n", " ", "  ", "%", "a", "'s", "\n\n2. second", " 3"]


def cases():
    rng = random.Random(20261204)
    out = []
    # Every kind of whitespace, lengths 1-4, before every kind of number, in the middle.
    for s in SPACES:
        for n in (1, 2, 3, 4):
            num = NUMBERS[(SPACES.index(s) * 4 + n) % len(NUMBERS)]
            out.append("x" + s * n + num + " y")
    # Every number character after a single space, two spaces, a blank line and a tab run.
    for num in NUMBERS:
        for ws in (" ", "  ", "\n\n", "\t\t", "\n ", " \n"):
            out.append("a" + ws + num)
    # Start, middle and end of a text.
    for num in NUMBERS[:12]:
        for ws in (" ", "   ", "\n", "\n\n\n", "\r\n\r\n", "\u00a0\u00a0"):
            out.append(ws + num + " begins")
            out.append("ends with" + ws + num)
    # Random mixes: a run of 1-5 whitespace characters of any kind between random neighbours.
    for _ in range(160):
        ws = "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 5)))
        t = rng.choice(BEFORE) + ws + rng.choice(NUMBERS) + rng.choice(AFTER)
        if rng.random() < 0.3:
            ws2 = "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 3)))
            t += ws2 + rng.choice(NUMBERS)
        out.append(t)
    # The examples.
    out += ["Total:\n\n2019 was a year", "items:\n\n1. first\n\n2. second", "x  3.5 kg", "see\n 42",
            "add   ½ cup", "Chapter  Ⅻ begins", "Page\n\n\n12", "price  $5", "a \t7", "one 1"]
    seen, uniq = set(), []
    for t in out:
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    return uniq


def main():
    tok = AutoTokenizer.from_pretrained(os.path.dirname(GGUF), gguf_file=os.path.basename(GGUF))
    orig = tok.backend_tokenizer
    smol = type(orig).from_str(orig.to_str())
    smol.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    rows = []
    for t in cases():
        ids = tok(t, add_special_tokens=False)["input_ids"]
        rows.append({"text": t, "ids": ids, "ids_smollm": smol.encode(t, add_special_tokens=False).ids})
    differ = sum(r["ids"] != r["ids_smollm"] for r in rows)
    with open(OUT + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"source": "transformers AutoTokenizer from " + os.path.basename(GGUF), "cases": rows}, f,
                  ensure_ascii=True, indent=0)
    os.replace(OUT + ".tmp", OUT)
    print(f"{len(rows)} cases ({differ} where the original SmolLM2 pre-tokenizer differs) -> {OUT}")


if __name__ == "__main__":
    main()
