#!/usr/bin/env python3
"""Tokenizer fixtures for Tests/SACModelTests (TokenizerTests, PreTokenizerTests, ChatTemplateTests).

Loads transformers' tokenizer from the SmolLM2-135M-Instruct GGUF, saves its tokenizer.json and
tokenizer_config.json (with the chat template folded in) into Tests/SACModelTests/Fixtures/tokenizer/,
and writes cases.json:
  cases:        ~300 texts -> ids (transformers, from the GGUF: ByteLevel pre-tokenizer = GPT-2 regex),
                ids_smollm (same vocab, Sequence[Digits(individual), ByteLevel] = SmolLM2's original
                tokenizer.json and llama.cpp's "smollm"), ids_llama3 (same vocab, Llama-3 Split regex +
                ByteLevel(use_regex=false)), decoded (decode(ids)), decoded_skip (skip_special_tokens).
  decode_cases: random id lists (may hold broken UTF-8) -> decoded, decoded_skip.
  chats:        conversations -> apply_chat_template(tokenize=False, add_generation_prompt=True|False).
Run: python3 scripts/make_tokenizer_fixtures.py
"""
import gzip
import json
import os
import random

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import pre_tokenizers, Regex
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "SACModelTests", "Fixtures", "tokenizer")
DATA = "/work/shared/data"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def hand_texts():
    t = [
        "Hello, world!", "", " ", "  ", "\n", "a", "I", "'", "''", "'s", "x's", "THE END.",
        "don't won't it's I'm we'll they've O'Neil", "DON'T WE'LL THEY'VE I'M HE'D", "she'd've y'all",
        "It 's a test . With spaces , before punctuation ; and ' s", "rock 'n' roll", "``quoted''",
        "12345.678", "3.14159", "1,000,000", "2024-06-01T12:34:56Z", "a  1", "a   12 b", "x 1 2  3   4",
        "v1.2.3-rc4", "0x1F 0b1010 1e-9 -42 +7 ½ ¾ ² ³ ① Ⅻ ٣٤٥ ४२", "$100 €50 £20 ¥1000 ₹500",
        "def foo(x):\n    return x ** 2  # square\n", "if (a && b || !c) { return; }\n",
        "for (int i = 0; i < n; ++i) { sum += a[i]; }",
        "```python\nimport numpy as np\nprint(np.arange(10))\n```",
        "<div class=\"x\">Hi &amp; bye</div>", "SELECT * FROM t WHERE id = 1;",
        "fn main() {\n\tlet v: Vec<i32> = vec![1, 2, 3];\n}\n", "λx. x + 1 → ∀y ∈ ℝ",
        "emoji 😀🚀👍🏽 family 👨\u200d👩\u200d👧\u200d👦 flag 🇫🇷", "🙂🙃😉", "❤️ ☺️ ✔︎",
        "日本語のテキストです。中文测试。", "한국어 텍스트", "Привет, как дела?",
        "Ελληνικά και العربية و עברית", "हिन्दी भाषा", "ภาษาไทย", "Tiếng Việt có dấu",
        "cafe\u0301 nai\u0308ve", "café naïve résumé façade Øresund", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
        "multiple     spaces\tand\ttabs\n\nnewlines\n", "\n\n  \t", "   \n\n\n   \t  ", " \t \n ",
        "trailing   ", "   leading", "\r\n\r\n", "a\rb\r\nc", "tab\there", "\t\t\tx", "x\u3000y\u2028z\u2029w",
        "non\xa0breaking\u2003em\u200bzero-width\xadsoft", "\ufeffBOM", "\x00nul\x1besc\x7f",
        "\ufffd replacement", "\uffff\ufffe noncharacters \U0010ffff \ue000 private",
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", "<|endoftext|>",
        "<|im_start|><|im_end|>", "text<|im_end|>text", "<|im_start|", "|im_start|>", "<|im_start|>>",
        "<<|im_start|>>", "<|endoftext|><|endoftext|>", "a <|im_start|> b", "<repo_name>foo<file_sep>",
        "<jupyter_code>print(1)<jupyter_output>1<empty_output>", "<|unknown|>",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!!!!!!!!????", "a" * 300, "ab" * 200, "🚀" * 50,
        "!!!", "...", "?!?!", "---", "___init___", "@user #tag", "e-mail: someone@example.org",
        "URL: https://example.com/path?query=1&b=2#frag", "C:\\Users\\x\\file.txt",
        "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}\r\n", "ALL CAPS SHOUTING and MiXeD cAsE",
        "The capital of France is", "Semantic anchors compress long contexts into a few key-value pairs.",
        "ﬁ ligature ﬀ", "Ａｂｃ full width １２３", "İstanbul ß ẞ", "ǅ titlecase", "x²+y²=z²",
        "wait—what?", "“smart quotes” and ‘single’", "…ellipsis", "Mr. Smith's dog's bone's",
    ]
    return t


def corpus_texts(rng):
    out = []
    for name, n in [("wikitext-2-valid.txt", 40), ("tinyshakespeare.txt", 30),
                    ("us-state-of-the-union.txt", 30), ("us-inaugural-addresses.txt", 20)]:
        with open(os.path.join(DATA, "text", name), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for _ in range(n):
            start = rng.randrange(0, len(text) - 2000)
            length = rng.choice([40, 120, 400, 1200])
            out.append(text[start:start + length])
    with gzip.open(os.path.join(DATA, "mrqa", "SQuAD-dev.jsonl.gz"), "rt", encoding="utf-8") as f:
        lines = f.readlines()[1:]
    for line in rng.sample(lines, 30):
        rec = json.loads(line)
        out.append(rec["context"])
        out.append(rec["qas"][0]["question"])
    with gzip.open(os.path.join(DATA, "mrqa", "DROP.jsonl.gz"), "rt", encoding="utf-8") as f:
        lines = f.readlines()[1:]
    for line in rng.sample(lines, 15):
        out.append(json.loads(line)["context"][:1500])
    return out


def random_unicode(rng, n):
    pools = [
        (0x20, 0x7e), (0x20, 0x7e), (0x20, 0x7e), (0x9, 0xd), (0xa0, 0x24f), (0x370, 0x3ff),
        (0x400, 0x4ff), (0x590, 0x6ff), (0x900, 0x97f), (0x2000, 0x206f), (0x3040, 0x30ff),
        (0x4e00, 0x4fff), (0xac00, 0xad00), (0x1f300, 0x1f64f), (0x300, 0x36f), (0xff00, 0xffef),
    ]
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randrange(1, 60)):
            lo, hi = rng.choice(pools)
            c = rng.randrange(lo, hi + 1)
            if 0xd800 <= c <= 0xdfff:
                continue
            chars.append(chr(c))
            if rng.random() < 0.15:
                chars.append(" " * rng.randrange(1, 4))
        out.append("".join(chars))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(os.path.expanduser("~/.cache/sac/models"),
                                        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    print("chat_template:\n" + tok.chat_template)
    tok.save_pretrained(OUT)
    cfg_path = os.path.join(OUT, "tokenizer_config.json")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    cfg["chat_template"] = tok.chat_template  # transformers 5 writes it to chat_template.jinja
    with open(cfg_path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)
    jinja = os.path.join(OUT, "chat_template.jinja")
    if os.path.exists(jinja):
        os.remove(jinja)

    tj_path = os.path.join(OUT, "tokenizer.json")
    with open(tj_path, encoding="utf-8") as f:
        print("pre_tokenizer:", json.dumps(json.load(f)["pre_tokenizer"]))
    smol = HFTokenizer.from_file(tj_path)
    smol.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    llama3 = HFTokenizer.from_file(tj_path)
    llama3.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])

    rng = random.Random(1234)
    texts = hand_texts() + corpus_texts(rng) + random_unicode(rng, 60)
    cases = []
    for text in texts:
        ids = tok.encode(text)
        cases.append({
            "text": text, "ids": ids,
            "ids_smollm": smol.encode(text).ids,
            "ids_llama3": llama3.encode(text).ids,
            "decoded": tok.decode(ids),
            "decoded_skip": tok.decode(ids, skip_special_tokens=True),
        })
    n_diff = sum(c["ids"] != c["ids_smollm"] for c in cases)
    print(f"{len(cases)} cases; {n_diff} differ between GGUF/transformers and smollm (Digits) pre-tokenizer")

    decode_cases = []
    vocab = tok.vocab_size if hasattr(tok, "vocab_size") else 49152
    for i in range(60):
        ids = [rng.randrange(0, 49152) for _ in range(rng.randrange(1, 30))]
        if i % 3 == 0:
            ids = [rng.randrange(0, 17)] + ids + [rng.randrange(0, 17)]
        decode_cases.append({"ids": ids, "decoded": tok.decode(ids),
                             "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    # Byte tokens that split a multi-byte character: ð (0xF0) alone, é's halves, a truncated emoji.
    for text in ["😀", "é", "日本", "👨\u200d👩"]:
        ids = tok.encode(text)
        for cut in range(1, len(ids)):
            for part in (ids[:cut], ids[cut:], ids[cut:] + ids[:cut]):
                decode_cases.append({"ids": part, "decoded": tok.decode(part),
                                     "decoded_skip": tok.decode(part, skip_special_tokens=True)})

    convs = [
        [{"role": "user", "content": "What is 2+2?"}],
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi! How can I help?"},
         {"role": "user", "content": "Tell me a joke.\nA short one."}],
        [{"role": "system", "content": ""}, {"role": "user", "content": "émoji 😀 and <b>tags</b>"}],
        [{"role": "assistant", "content": "I start."}, {"role": "user", "content": "ok"}],
        [{"role": "user", "content": "first"}, {"role": "system", "content": "late system"}],
    ]
    chats = []
    for conv in convs:
        for gen in (True, False):
            text = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen)
            chats.append({"messages": conv, "add_generation_prompt": gen, "text": text,
                          "ids": tok.encode(text)})

    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"source": "scripts/make_tokenizer_fixtures.py", "cases": cases,
                   "decode_cases": decode_cases, "chats": chats}, f, ensure_ascii=True, indent=0)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
