#!/usr/bin/env python3
"""Generates the SACData test fixtures and the SACEvaluation reference cases.

  python3 scripts/make_data_fixtures.py

Writes Tests/SACDataTests/Fixtures/{gzip,qa,text}/ and
Tests/SACEvaluationTests/MetricsReferenceCases.swift (expected values computed here with the
official SQuAD v1.1 evaluation code, embedded below). Deterministic: rerunning changes nothing.
"""
import gzip
import io
import json
import os
import random
import re
import string
import struct
import zlib
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "SACDataTests", "Fixtures")


def write(rel, data):
    path = os.path.join(FIX, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def gz(data, level=9, mtime=0, strategy=None):
    """One gzip member; strategy (e.g. zlib.Z_FIXED) goes through a raw deflate stream."""
    if strategy is None:
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=level, mtime=mtime, filename="") as f:
            f.write(data)
        return buf.getvalue()
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
    raw = c.compress(data) + c.flush()
    return member(raw, data)


def member(raw, data, flags=0, extra=b"", name=b"", comment=b""):
    head = bytes([0x1F, 0x8B, 8, flags]) + struct.pack("<I", 0) + bytes([0, 255])
    if flags & 4:
        head += struct.pack("<H", len(extra)) + extra
    if flags & 8:
        head += name + b"\0"
    if flags & 16:
        head += comment + b"\0"
    if flags & 2:
        head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    return head + raw + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def first_block_type(g):
    """BTYPE of the first DEFLATE block of a gzip member with a plain 10-byte header."""
    return (g[10] >> 1) & 3


def pseudo_text(rng, n_words):
    words = ("the of and to in a is that for it as was with be by on not he i this are or his from at "
             "which but have an they you were her she there been one all we their has would when if so no "
             "compression anchor token memory context question answer model Swift décodé naïve — “quoted” 東京").split()
    out, line = [], []
    for _ in range(n_words):
        line.append(rng.choice(words))
        if len(line) >= rng.randint(6, 14):
            out.append(" ".join(line) + rng.choice([".", ",", "!", "?", ""]))
            line = []
            if rng.random() < 0.1:
                out.append("")
    return ("\n".join(out) + "\n").encode("utf-8")


def gzip_fixtures():
    rng = random.Random(1234)
    rand = bytes(rng.getrandbits(8) for _ in range(40000))
    text = pseudo_text(rng, 12000)
    write("gzip/random.bin", rand)
    write("gzip/random.bin.gz", gz(rand, 6))
    write("gzip/text.txt", text)
    for level in (0, 1, 9):
        write(f"gzip/text.l{level}.gz", gz(text, level))
    write("gzip/text.fixed.gz", gz(text, 9, strategy=zlib.Z_FIXED))
    assert first_block_type(gz(text, 0)) == 0
    assert first_block_type(gz(text, 9, strategy=zlib.Z_FIXED)) == 1
    assert first_block_type(gz(text, 9)) == 2
    write("gzip/empty.gz", gz(b"", 9))
    # Long runs: matches with distance < length (overlapping copies) and length 258.
    runs = b"a" * 5000 + b"ab" * 3000 + bytes(range(256)) * 40
    write("gzip/runs.bin", runs)
    write("gzip/runs.bin.gz", gz(runs, 9))
    # Two members, then a member with every optional header field and a header CRC.
    multi = gz(text[:20000], 9) + gz(rand[:5000], 1) + gz(b"", 6)
    write("gzip/multi.gz", multi)
    write("gzip/multi.bin", text[:20000] + rand[:5000])
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = c.compress(text[:3000]) + c.flush()
    write("gzip/headers.gz", member(raw, text[:3000], flags=2 | 4 | 8 | 16, extra=b"AB\x02\x00xy",
                                    name=b"headers.txt", comment=b"a comment"))
    write("gzip/headers.bin", text[:3000])
    for name in ("random.bin.gz", "text.l0.gz", "text.l1.gz", "text.l9.gz", "text.fixed.gz", "empty.gz",
                 "runs.bin.gz", "multi.gz", "headers.gz"):
        with open(os.path.join(FIX, "gzip", name), "rb") as f:
            data = gzip.decompress(f.read())
        expected = {"random.bin.gz": rand, "empty.gz": b"", "runs.bin.gz": runs, "multi.gz": text[:20000] + rand[:5000],
                    "headers.gz": text[:3000]}.get(name, text)
        assert data == expected, name


def qa_fixtures():
    header = {"header": {"dataset": "TinyQA", "split": "dev"}}
    lines = [
        json.dumps(header),
        json.dumps({"id": "", "context": "Paris is the capital of France.", "context_tokens": [["Paris", 0]],
                    "qas": [{"question": "What is the capital of France?", "answers": ["Paris"], "qid": "q1",
                             "detected_answers": [{"text": "Paris", "char_spans": [[0, 4]], "token_spans": [[0, 0]]}]},
                            {"question": "Paris is the capital of which country?", "answers": ["France", "france"],
                             "qid": "q2"}]}),
        '{"context": "broken json", "qas": [',
        json.dumps({"qas": [{"question": "No context?", "answers": ["x"], "qid": "q3"}]}),
        json.dumps({"context": "No questions here."}),
        "",
        json.dumps({"context": "Berlin is in Germany. Tōkyō is in Japan — “quoted”.",
                    "qas": [{"question": "Where is Berlin?", "answers": [], "qid": "q4"},
                            {"question": "Where is Tōkyō?", "answers": ["Japan"], "qid": "q5"},
                            {"answers": ["nothing"], "qid": "q6"}]}),
        json.dumps({"context": "The sky is blue.", "qas": [{"question": "What colour is the sky?",
                                                           "answers": ["blue"]}]}),
    ]
    body = ("\n".join(lines) + "\n").encode("utf-8")
    write("qa/tiny.jsonl", body)
    write("qa/tiny.jsonl.gz", gz(body, 9))
    write("qa/notgzip.jsonl.gz", body)
    squad = {"version": "1.1", "data": [
        {"title": "Rivers", "paragraphs": [
            {"context": "The Nile is the longest river in Africa.",
             "qas": [{"id": "s1", "question": "Which is the longest river in Africa?",
                      "answers": [{"text": "The Nile", "answer_start": 0}, {"text": "Nile", "answer_start": 4}]},
                     {"id": "s2", "question": "Where is the Nile?", "answers": [{"text": "Africa", "answer_start": 33}]}]},
            {"context": "The Amazon flows through Brazil.",
             "qas": [{"id": "s3", "question": "Through which country does the Amazon flow?",
                      "answers": [{"text": "Brazil", "answer_start": 25}]},
                     {"id": "s4", "question": "Unanswered?", "answers": []}]}]},
        {"title": "Empty", "paragraphs": []}]}
    write("qa/tiny-squad.json", json.dumps(squad, indent=1).encode("utf-8"))


def qmsum_fixture():
    """qa/tiny-qmsum.jsonl(.gz): two QMSum meetings cut short (from ../shared/data/qmsum/val),
    the second with a turn lacking its speaker, one lacking its content and a query lacking its
    answer; then a broken line, a blank one and a record without a transcript."""
    src = os.path.join(ROOT, "..", "shared", "data", "qmsum", "val.jsonl.gz")
    if not os.path.exists(src):
        print("skipped qa/tiny-qmsum.jsonl: no", src)
        return
    recs = [json.loads(l) for l in gzip.open(src)]
    r = recs[0]
    a = {"topic_list": r["topic_list"][:1], "meeting_transcripts": r["meeting_transcripts"][:4],
         "general_query_list": r["general_query_list"][:1],
         "specific_query_list": [{"query": q["query"], "answer": q["answer"], "relevant_text_span": q["relevant_text_span"]}
                                 for q in r["specific_query_list"][:2]]}
    b = recs[1]
    t = b["meeting_transcripts"][:3]
    t[1] = {"content": t[1]["content"]}
    t.append({"speaker": "Grad F"})
    bb = {"meeting_transcripts": t, "general_query_list": [{"query": b["general_query_list"][0]["query"]}],
          "specific_query_list": [{"query": b["specific_query_list"][0]["query"], "answer": b["specific_query_list"][0]["answer"]}]}
    lines = [json.dumps(a), json.dumps(bb), '{"meeting_transcripts": [', "",
             json.dumps({"general_query_list": [{"query": "x", "answer": "y"}]})]
    body = ("\n".join(lines) + "\n").encode("utf-8")
    write("qa/tiny-qmsum.jsonl", body)
    write("qa/tiny-qmsum.jsonl.gz", gz(body, 9))


def text_fixtures():
    corpus = "First paragraph line one.\nline two.\n\n\n  \t \nSecond paragraph.\r\n\r\nThird, with trailing spaces.   \n\n"
    write("text/corpus.txt", corpus.encode("utf-8"))
    write("text/bad-utf8.txt", "valid start ".encode("utf-8") + b"\xc3\x28 rest")


# ---- official SQuAD v1.1 evaluation code (evaluate-v1.1.py), verbatim ----
def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""
    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):
    return (normalize_answer(prediction) == normalize_answer(ground_truth))


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)
# ---- end of the official code ----


def rouge1_set_f(pred, ref):
    a, b = set(pred.split()), set(ref.split())
    if not a or not b:
        return 0.0
    common = len(a & b)
    if common == 0:
        return 0.0
    p, r = common / len(a), common / len(b)
    return 2 * p * r / (p + r)


CASES = [
    ("Paris", ["Paris"]),
    ("paris", ["Paris"]),
    ("The Paris", ["Paris", "the city of Paris"]),
    ("  Paris  ", ["Paris"]),
    ("Paris.", ["Paris"]),
    ("", ["Paris"]),
    ("Paris", [""]),
    ("", [""]),
    ("a an the", ["the"]),
    ("theory of an apple", ["the theory of apple"]),
    ("Anthem", ["an them"]),
    ("the the the cat", ["cat the"]),
    ("cat cat dog", ["cat dog dog"]),
    ("New York City", ["New York", "NYC"]),
    ("in 1945, the war ended", ["1945"]),
    ("1,000,000", ["1000000"]),
    ("U.S.A.", ["USA"]),
    ("rock-and-roll", ["rock and roll"]),
    ("rock–and–roll", ["rock and roll"]),
    ("“quoted”", ["quoted"]),
    ("\"quoted\"", ["quoted"]),
    ("it's", ["its"]),
    ("café au lait", ["Café au lait"]),
    ("CAFÉ", ["café"]),
    ("naïve approach", ["naive approach"]),
    ("Straße", ["strasse"]),
    ("İstanbul", ["istanbul"]),
    ("東京 タワー", ["東京タワー"]),
    ("東京 タワー", ["東京 タワー", "tower"]),
    ("Ωmega the Ω", ["ωmega"]),
    ("a\tb\nc", ["a b c"]),
    ("line\u00a0break", ["line break"]),
    ("x_the_y", ["x the y"]),
    ("the_cat", ["cat"]),
    ("théa", ["a"]),
    ("a1 the2 an", ["a1"]),
    ("²the", ["the"]),
    ("[the] (an) {a}", [""]),
    ("$5.00", ["5.00", "$5"]),
    ("50%", ["50 percent", "50"]),
    ("Denver Broncos", ["Denver Broncos", "The Denver Broncos", "Broncos"]),
    ("the Broncos of Denver", ["Denver Broncos"]),
    ("Santa Clara, California", ["Santa Clara", "Levi's Stadium in Santa Clara"]),
    ("gold", ["golden", "gold medal"]),
    ("Beyoncé Knowles", ["Beyonce"]),
    ("three", ["3", "three"]),
    ("A", ["a"]),
    ("An Apple a day", ["apple day"]),
    ("emoji 😀 test", ["test 😀"]),
    ("tab\tsep  arated", ["tab sep arated"]),
    ("Élan vital", ["élan"]),
    ("TheEnd", ["the end"]),
]


def swift_string(s):
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        else:
            out.append("\\u{%x}" % o)
    return '"' + "".join(out) + '"'


def metric_cases():
    rows = []
    for pred, golds in CASES:
        f1 = metric_max_over_ground_truths(f1_score, pred, golds)
        em = metric_max_over_ground_truths(exact_match_score, pred, golds)
        rouge = rouge1_set_f(pred, golds[0])
        pem = pred.strip() == golds[0].strip()
        norm = normalize_answer(pred)
        rows.append("        MetricCase(prediction: %s, answers: [%s], normalized: %s,\n"
                    "                   squadF1: %r, squadEM: %s, rouge1F: %r, paperEM: %s),"
                    % (swift_string(pred), ", ".join(swift_string(g) for g in golds), swift_string(norm),
                       float(f1), "true" if em else "false", float(rouge), "true" if pem else "false"))
    src = ("// Generated by scripts/make_data_fixtures.py from the official SQuAD v1.1 evaluation code.\n"
           "// Do not edit: rerun the script.\n\n"
           "/// One prediction with its gold answers and the metric values Python computed.\n"
           "struct MetricCase {\n"
           "    let prediction: String\n    let answers: [String]\n    let normalized: String\n"
           "    let squadF1: Double\n    let squadEM: Bool\n    let rouge1F: Double\n    let paperEM: Bool\n}\n\n"
           "enum MetricsReference {\n    static let cases: [MetricCase] = [\n" + "\n".join(rows) + "\n    ]\n}\n")
    path = os.path.join(ROOT, "Tests", "SACEvaluationTests", "MetricsReferenceCases.swift")
    with open(path, "w", encoding="utf-8") as f:
        f.write(src)


if __name__ == "__main__":
    gzip_fixtures()
    qa_fixtures()
    qmsum_fixture()
    text_fixtures()
    metric_cases()
    print("fixtures written under", FIX, "and Tests/SACEvaluationTests/MetricsReferenceCases.swift")
