#!/usr/bin/env python3
"""Reference values for the op tests, computed with PyTorch / Hugging Face transformers.

Run:  python3 Tests/SACTensorTests/ref_ops.py [rmsnorm|swiglu|rope]
and paste the printed Swift literals into the matching test file (RMSNormTests.swift,
SwiGLUTests.swift, RoPETests.swift). Inputs are regenerated identically on both sides by
`uniform(count, seed, scale)` (SplitMix64, see OpsTestSupport.swift: `Ops.uniform`), so
only the outputs are pasted.
"""
import sys

import torch
import torch.nn.functional as F

MASK = (1 << 64) - 1


def splitmix64(seed):
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def uniform(count, seed, scale=1.0):
    """Float32 values k·2⁻²³·scale, k uniform in [−2²³, 2²³): exact on both sides."""
    g = splitmix64(seed)
    vals = [((next(g) >> 40) - (1 << 23)) * (scale / float(1 << 23)) for _ in range(count)]
    return torch.tensor(vals, dtype=torch.float32)


def lit(name, t):
    vals = ", ".join("%.9g" % v for v in t.detach().reshape(-1).tolist())
    print("    static let %s: [Float] = [%s]" % (name, vals))


def rmsnorm():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm
    for (rows, d, seed) in [(3, 13, 101), (2, 67, 102)]:
        norm = LlamaRMSNorm(d, eps=1e-5)
        with torch.no_grad():
            norm.weight.copy_(uniform(d, seed + 1000, 2.0))
        x = uniform(rows * d, seed, 4.0).reshape(rows, d)
        lit("y_%dx%d" % (rows, d), norm(x))


def swiglu():
    g = uniform(37, 201, 8.0)
    g = torch.cat([g, torch.tensor([-100.0, -90.0, -88.5, -20.0, 0.0, 1e-30, 20.0, 88.5, 100.0])])
    u = uniform(g.numel(), 202, 2.0)
    lit("silu", F.silu(g))
    lit("swiglu", F.silu(g) * u)


def rope():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb
    cases = [  # (name, head_dim, heads, theta, positions, seed)
        ("hd64", 64, 2, 100000.0, [0, 5, 5, 100000, 16777216], 301),
        ("hd6", 6, 3, 10000.0, [2, 4097, 70000], 302),
    ]
    for name, hd, heads, theta, pos, seed in cases:
        cfg = LlamaConfig(hidden_size=hd * heads, num_attention_heads=heads, num_key_value_heads=heads,
                          head_dim=hd, rope_theta=theta, max_position_embeddings=8192)
        rot = LlamaRotaryEmbedding(cfg)
        t = len(pos)
        x = uniform(t * heads * hd, seed, 2.0).reshape(1, t, heads, hd).transpose(1, 2)  # [1, H, T, hd]
        pid = torch.tensor([pos], dtype=torch.int64)
        cos, sin = rot(x, pid)
        q, _ = apply_rotary_pos_emb(x, x, cos, sin)
        lit("invFreq_" + name, rot.inv_freq)
        lit("cos_" + name, cos[0, :, : hd // 2])
        lit("sin_" + name, sin[0, :, : hd // 2])
        lit("out_" + name, q.transpose(1, 2).reshape(t, heads * hd))


if __name__ == "__main__":
    which = sys.argv[1:] or ["rmsnorm", "swiglu", "rope"]
    for w in which:
        print("// %s" % w)
        globals()[w]()
