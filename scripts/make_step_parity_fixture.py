#!/usr/bin/env python3
"""The SAC QA training step in PyTorch (transformers + peft), as the reference for the Swift one.

Writes Tests/SACCompressionTests/StepParityReference.swift: for a one-chunk and a two-chunk
context from SmolLM2-135M-Instruct's GGUF (dequantised to float32 by transformers), the summed
answer cross-entropy of one SAC step and its gradients with respect to the trainable parameters
(LoRA on q_proj, k_proj, v_proj of every layer, the per-slot anchor embedding, the [LM] token):
the L2 norm of every tensor's gradient and the values at a few seeded coordinates of each.
`StepParityTests` recomputes them with `Compressor.loss` and compares.

The trainable parameters are not random draws (the two sides have different generators) but a
formula both sides evaluate in float64 and round to float32:
    value[i] = scale * sin(0.731 * i + 0.013 * h(name)),  h(name) = sum((j + 1) * byte_j) mod 9973
over the flat row-major index i and the PEFT-style name (`base_model.model.model.layers.N.
self_attn.k_proj.lora_A.weight`, `sac.anchor_embedding`, `sac.lm_token`); scale 0.02 for LoRA A,
0.01 for LoRA B, 0.02 for the anchor embedding, 0.05 for [LM].

SAC as SPEC says: anchors at h + k*r in every chunk of 510 (r = 5), slot k's embedding added;
each chunk encoded alone with LoRA on, bidirectional, global 1-based positions; per layer the
post-RoPE K and V of the anchors, chunks concatenated; the frozen decoder (adapters off) reads
them as a prefix, then [LM] at position N (the context length), the question and the answer
(all but its last token) at N+1, ...; loss: summed cross-entropy on the answer tokens.

Usage: python3 scripts/make_step_parity_fixture.py [--gguf PATH]
Needs: torch (CPU build), transformers 5, peft, gguf; the GGUF from `make model`.
"""
import argparse, math, os, random, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SAC_HOME = os.environ.get("SAC_HOME", os.path.expanduser("~/.cache/sac"))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(ROOT, "Tests/SACCompressionTests/StepParityReference.swift")
RATIO, CHUNK, RANK, ALPHA = 5, 510, 8, 16
TARGETS = ["q_proj", "k_proj", "v_proj"]
SAMPLED_LAYERS = [0, 1, 14, 28, 29]


def name_hash(name):
    return sum((j + 1) * b for j, b in enumerate(name.encode())) % 9973


def formula(name, count, scale):
    h = name_hash(name)
    return [scale * math.sin(0.731 * i + 0.013 * h) for i in range(count)]


def anchors(length, ratio):
    h = (ratio - 1) // 2
    return list(range(h, length, ratio)) if h < length else [0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=os.path.join(SAC_HOME, "models", GGUF))
    args = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache
    from peft import LoraConfig, get_peft_model

    torch.set_num_threads(1)
    d, f = os.path.dirname(args.gguf), os.path.basename(args.gguf)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    base = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation="eager")
    for p in base.parameters():
        p.requires_grad_(False)
    model = get_peft_model(base, LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=TARGETS, lora_dropout=0.0, bias="none"))
    cfg = base.config
    hidden = cfg.hidden_size

    params = {}  # Swift name -> torch parameter
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_" not in n:
                continue
            swift = n.replace(".default.weight", ".weight")
            scale = 0.02 if "lora_A" in swift else 0.01
            p.copy_(torch.tensor(formula(swift, p.numel(), scale), dtype=torch.float64).float().view_as(p))
            params[swift] = p
    k_max = len(anchors(CHUNK, RATIO))
    anchor = torch.nn.Parameter(torch.tensor(formula("sac.anchor_embedding", k_max * hidden, 0.02), dtype=torch.float64).float().view(k_max, hidden))
    lm = torch.nn.Parameter(torch.tensor(formula("sac.lm_token", hidden, 0.05), dtype=torch.float64).float().view(1, hidden))
    params["sac.anchor_embedding"], params["sac.lm_token"] = anchor, lm
    inner = model.base_model.model.model
    embed = base.get_input_embeddings()

    def encode(ids):
        """Per layer (K, V) of every chunk's anchors, concatenated: [1, kvHeads, carriers, headDim]."""
        keys, values = None, None
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            L = len(chunk)
            idx = torch.tensor(anchors(L, RATIO))
            x = embed(torch.tensor([chunk]))
            x = x.index_add(1, idx, anchor[: len(idx)].unsqueeze(0))
            out = inner(inputs_embeds=x, attention_mask=torch.zeros(1, 1, L, L),
                        position_ids=torch.arange(start + 1, start + L + 1).unsqueeze(0), use_cache=True)
            cache = out.past_key_values if hasattr(out, "past_key_values") and out.past_key_values is not None else out.cache
            kv = [(layer.keys.index_select(2, idx), layer.values.index_select(2, idx)) for layer in cache.layers]
            if keys is None:
                keys, values = [k for k, _ in kv], [v for _, v in kv]
            else:
                keys = [torch.cat([a, k], 2) for a, (k, _) in zip(keys, kv)]
                values = [torch.cat([a, v], 2) for a, (_, v) in zip(values, kv)]
        return keys, values

    def step_loss(ctx, q, a):
        keys, values = encode(ctx)
        cache = DynamicCache(config=cfg)
        for l in range(len(keys)):
            cache.update(keys[l], values[l], l)
        seq = q + a
        inp = torch.cat([lm.unsqueeze(0), embed(torch.tensor([seq[:-1]]))], dim=1)
        targets = torch.full((len(seq),), -100)
        targets[len(q):] = torch.tensor(a)
        C, m = keys[0].shape[2], inp.shape[1]
        mask = torch.zeros(1, 1, m, C + m)
        mask[0, 0, :, C:] = torch.triu(torch.full((m, m), float("-inf")), diagonal=1)
        pos = torch.arange(len(ctx), len(ctx) + m).unsqueeze(0)
        with model.disable_adapter():
            logits = base(inputs_embeds=inp, attention_mask=mask, position_ids=pos, use_cache=True, past_key_values=cache).logits
        return torch.nn.functional.cross_entropy(logits[0].double(), targets, ignore_index=-100, reduction="sum")

    text = open(os.path.join(ROOT, "examples/lincoln-second-inaugural.txt"), encoding="utf-8").read()
    all_ids = tok(text, add_special_tokens=False)["input_ids"]
    cases = [
        ("oneChunk", all_ids[:137], "Who is speaking at the inauguration?", "The President, on the occasion of the second inaugural address."),
        ("twoChunks", all_ids[:617], "What did both parties deprecate?", "war"),
    ]
    rng = random.Random(7)
    lines = []
    for label, ctx, question, answer in cases:
        q = tok(question, add_special_tokens=False)["input_ids"]
        a = tok(answer, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
        for p in params.values():
            p.grad = None
        loss = step_loss(ctx, q, a)
        loss.backward()
        norms, samples = [], []
        for name, p in sorted(params.items()):
            # None where the loss does not depend on the tensor: the last layer's q_proj only
            # shapes hidden states after the last K/V are taken, so its gradient is 0.
            g = p.grad.detach().double().reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=torch.float64)
            norms.append((name, g.norm().item()))
            layer_ok = not name.startswith("base_model") or int(name.split(".")[4]) in SAMPLED_LAYERS
            if layer_ok:
                count = p.numel() if name != "sac.anchor_embedding" else len(anchors(min(len(ctx), CHUNK), RATIO)) * hidden
                for _ in range(3 if name.startswith("base_model") else 8):
                    i = rng.randrange(count)
                    samples.append((name, i, g[i].item()))
        print(f"{label}: {len(ctx)} context tokens, {len(q)} question, {len(a)} answer, loss sum {loss.item():.6f}", file=sys.stderr)
        lines.append(f"        StepParityCase(\n            name: \"{label}\",\n"
                     f"            context: {list(ctx)},\n            question: {q},\n            answer: {a},\n"
                     f"            lossSum: {loss.item()!r},\n"
                     "            gradientNorms: [\n" + "".join(f"                \"{n}\": {v!r},\n" for n, v in norms) + "            ],\n"
                     "            gradients: [\n" + "".join(f"                (\"{n}\", {i}, {v!r}),\n" for n, i, v in samples) + "            ]),\n")
    header = ("// Generated by scripts/make_step_parity_fixture.py (PyTorch "
              f"{torch.__version__}, transformers {__import__('transformers').__version__}, peft {__import__('peft').__version__}); do not edit.\n"
              "// One SAC QA step's summed answer cross-entropy and its gradients, from the PyTorch reference.\n\n"
              f"enum StepParityReference {{\n    static let rank = {RANK}\n    static let alpha: Float = {ALPHA}\n"
              "    static let targets = [" + ", ".join(f'"{t}"' for t in TARGETS) + "]\n" +
              "    static let cases: [StepParityCase] = [\n")
    with open(OUT + ".tmp", "w") as fh:
        fh.write(header + "".join(lines) + "    ]\n}\n")
    os.replace(OUT + ".tmp", OUT)
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
