#!/usr/bin/env python3
"""One SAC training step, sac (Swift) beside PyTorch (transformers + peft), in the same run.

The step, on both sides: the encoder (LoRA r=128, alpha=256 on q_proj/v_proj; adapters on)
reads a 510-token context with the per-slot anchor embedding added at the anchors
2, 7, 12, ..., bidirectional attention and positions 1..N; the anchors' keys/values of every
layer go to the frozen decoder (adapters off) as a prefix cache; the decoder reads [LM] +
question + answer at positions N, N+1, ...; cross-entropy on the answer; backward through
decoder and encoder; clip at 2.0; AdamW (lr 1e-4, betas 0.9/0.95, wd 0.1). Same token ids:
they come from `sac bench train --json`. Also the time to the first answer token from a
compressed 5x memory vs from the full context (PyTorch, float32).

Usage: python3 scripts/bench_train.py [--steps 5] [--threads 2] [--model PATH.gguf]
Needs: pip install 'torch==2.13.0+cpu' transformers peft gguf
"""
import argparse, json, os, statistics, subprocess, sys, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=os.path.join(os.environ.get("SAC_HOME", os.path.expanduser("~/.cache/sac")),
                                                     "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sac = os.path.join(root, ".build", "release", "sac")
    if not os.path.exists(sac):
        subprocess.run(["swift", "build", "-c", "release"], cwd=root, check=True)
    env = dict(os.environ, SAC_THREADS=str(args.threads))
    out = subprocess.run([sac, "bench", "train", "--json", "--steps", str(args.steps), "--model", args.model],
                         env=env, check=True, capture_output=True, text=True).stdout
    s = json.loads(out.strip().splitlines()[-1])

    import torch
    from transformers import AutoModelForCausalLM
    from transformers.cache_utils import DynamicCache
    from peft import LoraConfig, get_peft_model
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(os.path.dirname(args.model), gguf_file=os.path.basename(args.model),
                                                dtype=torch.float32, attn_implementation="sdpa")
    for p in base.parameters():
        p.requires_grad_(False)
    model = get_peft_model(base, LoraConfig(r=128, lora_alpha=256, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    inner = model.base_model.model.model          # the LlamaModel (no head)
    head = model.base_model.model.lm_head
    emb = inner.embed_tokens
    d = base.config.hidden_size

    ctx = torch.tensor([s["context_ids"]])
    q, a = s["question_ids"], s["answer_ids"]
    N = ctx.shape[1]
    anchors = torch.arange(2, N, 5)                 # h = 2, r = 5
    K = anchors.numel()
    anchor_emb = torch.nn.Parameter(torch.randn(K, d) * 0.02)
    lm_token = torch.nn.Parameter(emb.weight.mean() + emb.weight.std() * torch.randn(1, d))
    params = [p for p in model.parameters() if p.requires_grad] + [anchor_emb, lm_token]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    dec_ids = torch.tensor([q + a[:-1]])
    targets = torch.tensor(a)
    T = dec_ids.shape[1] + 1
    bidi = torch.zeros(1, 1, N, N)

    def encode(ids):
        x = emb(ids).clone()
        x[0, anchors] = x[0, anchors] + anchor_emb
        o = inner(inputs_embeds=x, attention_mask=bidi, position_ids=torch.arange(1, N + 1)[None], use_cache=True)
        cache = DynamicCache()
        for i, layer in enumerate(o.past_key_values.layers):
            cache.update(layer.keys[:, :, anchors], layer.values[:, :, anchors], i)
        return cache

    def step():
        opt.zero_grad(set_to_none=True)
        cache = encode(ctx)
        x = torch.cat([lm_token[None], emb(dec_ids)], dim=1)
        with model.disable_adapter():
            h = inner(inputs_embeds=x, past_key_values=cache, position_ids=torch.arange(N, N + T)[None],
                      attention_mask=torch.ones(1, K + T, dtype=torch.long), use_cache=False).last_hidden_state
        logits = head(h[0, len(q):])                # answer rows only, as sac does
        loss = torch.nn.functional.cross_entropy(logits, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 2.0)
        opt.step()
        return loss.item()

    # Bidirectionality check: changing the last token changes the first token's state.
    with torch.no_grad(), model.disable_adapter():
        o1 = inner(input_ids=ctx[:, :8], attention_mask=torch.zeros(1, 1, 8, 8), position_ids=torch.arange(1, 9)[None])
        c2 = ctx[:, :8].clone(); c2[0, -1] += 1
        o2 = inner(input_ids=c2, attention_mask=torch.zeros(1, 1, 8, 8), position_ids=torch.arange(1, 9)[None])
        assert (o1.last_hidden_state[0, 0] - o2.last_hidden_state[0, 0]).abs().max() > 1e-3, "mask is not bidirectional"

    step()  # warm-up
    times = []
    for _ in range(args.steps):
        t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
    pt_step = statistics.median(times)

    # Time to first token: from the compressed memory vs the full context (no adapters, no grad).
    qids = torch.tensor([q])
    with torch.no_grad():
        cache = encode(ctx)
        mem_k = [l.keys.clone() for l in cache.layers]; mem_v = [l.values.clone() for l in cache.layers]
        def from_memory():
            c = DynamicCache()
            for i in range(len(mem_k)):
                c.update(mem_k[i], mem_v[i], i)
            x = torch.cat([lm_token[None], emb(qids)], dim=1)
            with model.disable_adapter():
                out = base(inputs_embeds=x, past_key_values=c, position_ids=torch.arange(N, N + x.shape[1])[None],
                           attention_mask=torch.ones(1, K + x.shape[1], dtype=torch.long), logits_to_keep=1)
            return out.logits
        def from_context():
            with model.disable_adapter():
                return base(input_ids=torch.cat([ctx, qids], dim=1), logits_to_keep=1).logits
        tm, tc = [], []
        for _ in range(5):
            t = time.perf_counter(); from_memory(); tm.append(time.perf_counter() - t)
            t = time.perf_counter(); from_context(); tc.append(time.perf_counter() - t)
    pt_mem, pt_ctx = statistics.median(tm), statistics.median(tc)

    print(f"SAC 5x training step on SmolLM2-135M, {N}-token context, {T} decoder tokens, LoRA r=128, {args.threads} threads")
    print(f"| | sac | PyTorch {torch.__version__} | PyTorch / sac |")
    print("|---|---:|---:|---:|")
    print(f"| training step (ms) | {s['step_s']*1000:.0f} | {pt_step*1000:.0f} | {pt_step/s['step_s']:.2f}x |")
    print(f"| first token from 5x memory (ms) | {s['ttft_memory_s']*1000:.1f} | {pt_mem*1000:.1f} | {pt_mem/s['ttft_memory_s']:.2f}x |")
    print(f"| first token from full context (ms) | {s['ttft_context_s']*1000:.1f} | {pt_ctx*1000:.1f} | {pt_ctx/s['ttft_context_s']:.2f}x |")
    print(f"| full context / memory | {s['ttft_context_s']/s['ttft_memory_s']:.1f}x | {pt_ctx/pt_mem:.1f}x | |")
    print(f"sac: encoder forward {s['encoder_forward_s']*1000:.0f} ms, compress (quantised) {s['compress_s']*1000:.0f} ms, "
          f"peak RSS {s['peak_rss_mb']:.0f} MB; sac answers with the Q4_1 model, PyTorch with float32 weights")

if __name__ == "__main__":
    main()
