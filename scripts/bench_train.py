#!/usr/bin/env python3
"""Side-by-side training benchmark: `sac bench train` against the same SAC step in PyTorch.

One SAC training step on SmolLM2-135M-Instruct (the GGUF dequantised to float32 on both sides):
  encoder = the model with LoRA (q_proj, v_proj, r 128, alpha 256) on, reading a 510-token
            context (one chunk) with bidirectional attention, positions 1..T, the per-slot
            anchor embedding added at the anchors 2, 7, 12, ... (102 of them, ratio 5);
            the keys (post-RoPE) and values of the anchors in every layer form the memory;
  decoder = the same model with adapters off, reading the memory as its KV cache, then
            [LM] + question + answer[:-1] at positions N, N+1, ...; loss on the answer tokens;
then backward, gradient clipping at 2.0, AdamW (lr 1e-4, betas 0.9/0.95, wd 0.1), zero_grad.
The token ids come from the Swift side (its JSON), so both sides read the same sequence.

It also times the encoder forward alone (compress) and the time to first token of an answer
read from the 102-carrier memory against one read from the whole 510-token context.

The two sides run one after the other, in --rounds alternating rounds (3 by default): a shared host
has slower and faster phases minutes long, and alternating puts each phase on both sides. The table
shows the medians over the rounds, and the last line the step ratio of every round.

On a shared 2-core machine other processes steal a core: PyTorch's OpenMP threads then wait for
each other in every op and its 2-thread times can be 5-15x too slow. Check `uptime` first, and
compare with --threads 1, which contention hurts far less.

Usage: python3 scripts/bench_train.py [--threads 2] [--steps 5] [--warmup 1] [--rounds 3] [--breakdown]
Needs: torch (CPU build), transformers 5, peft, gguf; builds .build/release/sac if missing.
"""
import argparse, json, os, resource, statistics, subprocess, sys, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SAC_HOME = os.environ.get("SAC_HOME", os.path.expanduser("~/.cache/sac"))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
RATIO = 5


def cache_kwarg():
    """The name transformers gives the KV-cache argument and output ("cache" from 5.2x, else "past_key_values")."""
    import inspect
    from transformers import LlamaForCausalLM
    return "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


def anchors(length, ratio):
    """SPEC §2: j_k = h + k*r, h = (r - 1) // 2."""
    h = (ratio - 1) // 2
    return list(range(h, length, ratio)) if h < length else [0]


class SACStep:
    """The SAC encoder/decoder on one peft-wrapped model, and its training step."""

    def __init__(self, model_path, attn, seed=0):
        import torch
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        self.torch = torch
        self.cache_name = cache_kwarg()
        torch.manual_seed(seed)
        base = AutoModelForCausalLM.from_pretrained(
            os.path.dirname(model_path), gguf_file=os.path.basename(model_path), dtype=torch.float32,
            attn_implementation=attn)
        for p in base.parameters():
            p.requires_grad_(False)
        cfg = LoraConfig(r=128, lora_alpha=256, target_modules=["q_proj", "v_proj"], lora_dropout=0.0, bias="none")
        self.model = get_peft_model(base, cfg)
        self.model.train()
        self.config = base.config
        d = self.config.hidden_size
        emb = base.get_input_embeddings().weight
        self.embed = base.get_input_embeddings()
        self.decoder_lm = base  # adapters are switched off around it with disable_adapter()
        self.inner = self.model.base_model.model.model  # the LlamaModel (no LM head) under the adapters
        k = len(anchors(510, RATIO))
        self.anchor_embedding = torch.nn.Parameter(torch.randn(k, d) * 0.02)
        self.lm_token = torch.nn.Parameter(torch.randn(1, d) * emb.std() + emb.mean())
        self.params = [p for p in self.model.parameters() if p.requires_grad] + [self.anchor_embedding, self.lm_token]
        self.opt = torch.optim.AdamW(self.params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)

    def encode(self, ids):
        """Encoder forward: the per-layer (K, V) of the anchors, each [1, kvHeads, K, headDim]."""
        torch = self.torch
        T = len(ids)
        idx = torch.tensor(anchors(T, RATIO))
        x = self.embed(torch.tensor([ids]))
        x = x.index_add(1, idx, self.anchor_embedding[: len(idx)].unsqueeze(0))
        mask = torch.zeros(1, 1, T, T)  # bidirectional within the chunk
        pos = torch.arange(1, T + 1).unsqueeze(0)
        out = self.inner(inputs_embeds=x, attention_mask=mask, position_ids=pos, use_cache=True)
        cache = getattr(out, self.cache_name)
        return [(layer.keys.index_select(2, idx), layer.values.index_select(2, idx)) for layer in cache.layers], out

    def decode_logits(self, kv, embeds, start):
        """Frozen decoder over `embeds` [1, m, d] after the memory `kv`, positions start, start+1, ..."""
        torch = self.torch
        from transformers import DynamicCache
        cache = DynamicCache(config=self.config)
        for l, (k, v) in enumerate(kv):
            cache.update(k, v, l)
        C, m = kv[0][0].shape[2], embeds.shape[1]
        mask = torch.zeros(1, 1, m, C + m)
        mask[0, 0, :, C:] = torch.triu(torch.full((m, m), float("-inf")), diagonal=1)  # causal after the memory
        pos = torch.arange(start, start + m).unsqueeze(0)
        with self.model.disable_adapter():
            return self.decoder_lm(inputs_embeds=embeds, attention_mask=mask, position_ids=pos, use_cache=True,
                                   **{self.cache_name: cache}).logits

    def decoder_inputs(self, q, a):
        torch = self.torch
        seq = q + a
        inp = torch.cat([self.lm_token.unsqueeze(0), self.embed(torch.tensor([seq[:-1]]))], dim=1)
        targets = torch.full((len(seq),), -100)
        targets[len(q):] = torch.tensor(a)
        return inp, targets

    def loss(self, ctx, q, a, kv=None):
        torch = self.torch
        if kv is None:
            kv, _ = self.encode(ctx)
        inp, targets = self.decoder_inputs(q, a)
        logits = self.decode_logits(kv, inp, len(ctx))
        return torch.nn.functional.cross_entropy(logits[0], targets, ignore_index=-100)

    def optimizer_step(self):
        self.torch.nn.utils.clip_grad_norm_(self.params, 2.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=False)

    def step(self, ctx, q, a):
        loss = self.loss(ctx, q, a)
        loss.backward()
        self.optimizer_step()
        return loss.item()

    def step_parts(self, ctx, q, a):
        """One step timed part by part (the memory detached between decoder and encoder backward)."""
        torch = self.torch
        t = {}
        s = time.perf_counter()
        kv, _ = self.encode(ctx)
        t["encoder_forward"] = time.perf_counter() - s
        s = time.perf_counter()
        leaf = [(k.detach().requires_grad_(), v.detach().requires_grad_()) for k, v in kv]
        loss = self.loss(ctx, q, a, kv=leaf)
        t["decoder_forward"] = time.perf_counter() - s
        s = time.perf_counter()
        loss.backward()
        t["decoder_backward"] = time.perf_counter() - s
        s = time.perf_counter()
        outs = [x for pair in kv for x in pair]
        grads = [x.grad for pair in leaf for x in pair]
        torch.autograd.backward(outs, grads)
        t["encoder_backward"] = time.perf_counter() - s
        s = time.perf_counter()
        self.optimizer_step()
        t["optimizer"] = time.perf_counter() - s
        return t

    def check_masks(self, ctx, q, a):
        """Asserts that the encoder is bidirectional and the decoder causal after the memory."""
        torch = self.torch
        with torch.no_grad():
            _, out1 = self.encode(ctx)
            changed = list(ctx)
            changed[-1] = (changed[-1] + 1) % self.config.vocab_size
            _, out2 = self.encode(changed)
            diff = (out1.last_hidden_state[0, 0] - out2.last_hidden_state[0, 0]).abs().max().item()
            assert diff > 1e-4, f"encoder is not bidirectional: token 0 did not change ({diff})"
            kv, _ = self.encode(ctx)
            inp, _ = self.decoder_inputs(q, a)
            l1 = self.decode_logits(kv, inp, len(ctx))
            inp2 = inp.clone()
            inp2[0, -1] += 1.0
            l2 = self.decode_logits(kv, inp2, len(ctx))
            diff = (l1[0, :-1] - l2[0, :-1]).abs().max().item()
            assert diff < 1e-4, f"decoder is not causal: earlier logits moved by {diff}"

    def ttft_context(self, ctx, q):
        """Seconds to the first token's logits reading context + question with the plain model."""
        torch = self.torch
        with torch.inference_mode(), self.model.disable_adapter():
            s = time.perf_counter()
            logits = self.decoder_lm(torch.tensor([ctx + q]), use_cache=True, logits_to_keep=1).logits
            logits[0, -1].argmax()
            return time.perf_counter() - s

    def ttft_memory(self, kv, q, n):
        """Seconds to the first token's logits reading [LM] + question against a stored memory."""
        torch = self.torch
        with torch.inference_mode():
            s = time.perf_counter()
            inp = torch.cat([self.lm_token.unsqueeze(0), self.embed(torch.tensor([q]))], dim=1)
            logits = self.decode_logits(kv, inp, n)
            logits[0, -1].argmax()
            return time.perf_counter() - s


def torch_side(args):
    import torch
    torch.set_num_threads(args.threads)
    ids = json.loads(sys.stdin.read())
    ctx, q, a = ids["context_ids"], ids["question_ids"], ids["answer_ids"]
    t0 = time.perf_counter()
    sac = SACStep(args.model, args.attn)
    load_s = time.perf_counter() - t0
    sac.check_masks(ctx, q, a)
    steps, losses = [], []
    for i in range(args.warmup + args.steps):
        s = time.perf_counter()
        loss = sac.step(ctx, q, a)
        dt = time.perf_counter() - s
        if i >= args.warmup:
            steps.append(dt)
            losses.append(loss)
    compress = []
    with torch.inference_mode():
        sac.encode(ctx)
        for _ in range(args.steps):
            s = time.perf_counter()
            kv, _ = sac.encode(ctx)
            compress.append(time.perf_counter() - s)
    kv = [(k.clone(), v.clone()) for k, v in kv]
    sac.ttft_memory(kv, q, len(ctx)), sac.ttft_context(ctx, q)  # warm-up
    mem = [sac.ttft_memory(kv, q, len(ctx)) for _ in range(args.answer_runs)]
    full = [sac.ttft_context(ctx, q) for _ in range(args.answer_runs)]
    res = {"load_s": load_s, "step_ms": [x * 1000 for x in steps], "losses": losses,
           "step_ms_median": statistics.median(steps) * 1000, "step_ms_mean": statistics.mean(steps) * 1000,
           "compress_ms_median": statistics.median(compress) * 1000,
           "compress_ms_mean": statistics.mean(compress) * 1000,
           "ttft_memory_ms": statistics.median(mem) * 1000, "ttft_context_ms": statistics.median(full) * 1000}
    if args.breakdown:
        parts = [sac.step_parts(ctx, q, a) for _ in range(args.steps + 1)][1:]
        res["breakdown_ms"] = {k: statistics.median(p[k] for p in parts) * 1000 for k in parts[0]}
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--answer-runs", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3, help="alternating sac/PyTorch rounds (medians reported)")
    p.add_argument("--breakdown", action="store_true", help="time encoder/decoder forward/backward separately")
    p.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="transformers attention kernel")
    p.add_argument("--model", default=os.path.join(SAC_HOME, "models", GGUF))
    p.add_argument("--torch-side", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_side:
        return torch_side(args)
    if args.rounds < 1:
        sys.exit(f"--rounds must be at least 1 (got {args.rounds})")
    if not os.path.exists(args.model):
        sys.exit(f"model not found: {args.model} (run `make model`)")
    sac = os.path.join(ROOT, ".build", "release", "sac")
    if not os.path.exists(sac):
        subprocess.run(["swift", "build", "-c", "release", "--product", "sac"], cwd=ROOT, check=True)
    env = dict(os.environ, SAC_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--answer-runs", str(args.answer_runs)]
    sac_cmd = [sac, "bench", "train", "--model", args.model, "--json"] + common + (["--breakdown"] if args.breakdown else [])
    torch_cmd = [sys.executable, os.path.abspath(__file__), "--torch-side", "--threads", str(args.threads), "--model",
                 args.model, "--attn", args.attn] + common + (["--breakdown"] if args.breakdown else [])
    # Rounds alternate the two sides, so that a slow phase of a shared host (minutes long) falls on
    # both; the ratios are taken round by round and the table shows the medians over rounds.
    rounds = []
    for i in range(args.rounds):
        r = subprocess.run(sac_cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"sac bench train failed:\n{r.stderr}")
        s = json.loads(r.stdout.strip().splitlines()[-1])
        ids = {k: s[k] for k in ("context_ids", "question_ids", "answer_ids")}
        r = subprocess.run(torch_cmd, env=env, input=json.dumps(ids), capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"PyTorch side failed:\n{r.stderr[-3000:]}")
        t = json.loads(r.stdout.strip().splitlines()[-1])
        rounds.append((s, t))
        if args.rounds > 1:
            print(f"round {i + 1}/{args.rounds}: train step sac {s['step_ms_median']:.1f} ms, pytorch "
                  f"{t['step_ms_median']:.1f} ms ({t['step_ms_median'] / s['step_ms_median']:.2f}x); compress "
                  f"{t['compress_ms_median'] / s['compress_ms_median']:.2f}x", flush=True)
    report(args, merge([s for s, _ in rounds]), merge([t for _, t in rounds]))
    if args.rounds > 1:
        ratios = sorted(t["step_ms_median"] / s["step_ms_median"] for s, t in rounds)
        print(f"train step pt/sac by round: {', '.join(f'{x:.2f}x' for x in ratios)} "
              f"(lowest {ratios[0]:.2f}x, median {statistics.median(ratios):.2f}x)")


def merge(results):
    """One result from several rounds: the median of every number, the per-step times joined, the rest
    (token ids, losses) from round 1."""
    out = dict(results[0])
    for k, v in results[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = statistics.median(r[k] for r in results)
        elif isinstance(v, dict):
            out[k] = {kk: statistics.median(r[k][kk] for r in results) for kk in v}
        elif k == "step_ms":
            out[k] = [x for r in results for x in r[k]]
    return out


def report(args, s, t):
    n, m = s["context_tokens"], s["decoder_tokens"]
    print(f"SmolLM2-135M-Instruct ({os.path.basename(args.model)}, dequantised to float32), {args.threads} threads; "
          f"SAC {RATIO}x step: {n} context tokens -> {s['carriers']} carriers, decoder {m} tokens "
          f"({s['supervised_tokens']} supervised); median of {args.steps} steps after {args.warmup} warm-up, median over {args.rounds} round(s); "
          f"PyTorch attention: {args.attn}")
    print(f"{'':34}{'sac':>10}{'pytorch':>10}{'pt/sac':>8}")

    def row(name, a, b, time_like=True):
        ratio = b / a if time_like else a / b
        print(f"{name:34}{a:10.1f}{b:10.1f}{ratio:7.2f}x")

    row("train step ms (median)", s["step_ms_median"], t["step_ms_median"])
    row("train step ms (mean)", s["step_ms_mean"], t["step_ms_mean"])
    row("train tokens/s (enc+dec)", (n + m) / s["step_ms_median"] * 1000, (n + m) / t["step_ms_median"] * 1000, False)
    row("compress ms (median)", s["compress_ms_median"], t["compress_ms_median"])
    row("compress tokens/s", n / s["compress_ms_median"] * 1000, n / t["compress_ms_median"] * 1000, False)
    row("TTFT from 5x memory ms", s["ttft_memory_ms"], t["ttft_memory_ms"])
    row("TTFT from full context ms", s["ttft_context_ms"], t["ttft_context_ms"])
    print(f"{'TTFT speed-up, context/memory':34}{s['ttft_speedup']:9.1f}x"
          f"{t['ttft_context_ms'] / t['ttft_memory_ms']:9.1f}x")
    print(f"{'peak RSS MB':34}{s['peak_rss_mb']:10.0f}{t['peak_rss_mb']:10.0f}{t['peak_rss_mb'] / s['peak_rss_mb']:7.2f}x")
    if "breakdown_ms" in s and "breakdown_ms" in t:
        print("step breakdown, median ms:")
        for k in ("encoder_forward", "decoder_forward", "decoder_backward", "encoder_backward", "optimizer"):
            row("  " + k.replace("_", " "), s["breakdown_ms"][k], t["breakdown_ms"][k])
    print(f"losses (own random init, not comparable in value): sac {s['losses'][0]:.3f}->{s['losses'][-1]:.3f}, "
          f"pytorch {t['losses'][0]:.3f}->{t['losses'][-1]:.3f}")
    print("(pt/sac > 1 means sac is faster; for tokens/s it is sac/pt; for memory pytorch/sac)")


if __name__ == "__main__":
    main()
