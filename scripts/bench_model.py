#!/usr/bin/env python3
"""Side-by-side inference benchmark: `sac bench model` against PyTorch on the same GGUF.

Both sides load SmolLM2-135M-Instruct from the same GGUF file, prefill the same prompt
(512 tokens by default, cut from a real text) and then decode greedily for 64 steps with a
KV cache, on the same number of threads. PyTorch runs transformers' float32 model (it
dequantises the GGUF at load) in a subprocess so that its peak memory is measured alone.

Usage: python3 scripts/bench_model.py [--threads 2] [--prompt-tokens 512] [--decode 64]
Needs: torch (CPU build), transformers, gguf; builds .build/release/sac if missing.
"""
import argparse, json, os, resource, subprocess, sys, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SAC_HOME = os.environ.get("SAC_HOME", os.path.expanduser("~/.cache/sac"))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def torch_side(args):
    import torch
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM
    model_dir = os.path.dirname(args.model)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=os.path.basename(args.model), dtype=torch.float32)
    model.eval()
    load_s = time.perf_counter() - t0
    ids = json.loads(args.ids)
    x = torch.tensor([ids])
    with torch.inference_mode():
        model(x[:, :16])  # warm-up
        best_prefill = None
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = model(x, use_cache=True)
            dt = time.perf_counter() - t
            best_prefill = dt if best_prefill is None else min(best_prefill, dt)
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        t = time.perf_counter()
        for _ in range(args.decode):
            out = model(nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        decode_s = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"prefill_tokens": len(ids), "prefill_tok_s": len(ids) / best_prefill,
                      "decode_tokens": args.decode, "decode_tok_s": args.decode / decode_s,
                      "peak_rss_mb": rss_mb, "load_s": load_s}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--decode", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default=os.path.join(SAC_HOME, "models", GGUF))
    p.add_argument("--torch-side", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--ids", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_side:
        return torch_side(args)
    if not os.path.exists(args.model):
        sys.exit(f"model not found: {args.model} (run `make model`)")
    sac = os.path.join(ROOT, ".build", "release", "sac")
    if not os.path.exists(sac):
        subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True)
    env = dict(os.environ, SAC_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    cmd = [sac, "bench", "model", "--model", args.model, "--prompt-tokens", str(args.prompt_tokens),
           "--decode", str(args.decode), "--repeats", str(args.repeats), "--json"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"sac bench model failed:\n{r.stderr}")
    s = json.loads(r.stdout.strip().splitlines()[-1])
    ids = s["prompt_ids"]
    r = subprocess.run([sys.executable, __file__, "--torch-side", "--threads", str(args.threads),
                        "--decode", str(args.decode), "--repeats", str(args.repeats), "--model", args.model,
                        "--ids", json.dumps(ids)], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"PyTorch side failed:\n{r.stderr[-3000:]}")
    t = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"SmolLM2-135M-Instruct ({os.path.basename(args.model)}), {args.threads} threads, "
          f"prompt {len(ids)} tokens, {args.decode} decode steps")
    print(f"{'':24}{'sac':>12}{'pytorch':>12}{'ratio':>8}")
    rows = [("prefill tokens/s", s["prefill_tok_s"], t["prefill_tok_s"], True),
            ("decode tokens/s", s["decode_tok_s"], t["decode_tok_s"], True),
            ("peak RSS MB", s["peak_rss_mb"], t["peak_rss_mb"], False)]
    for name, a, b, higher in rows:
        ratio = a / b if higher else b / a
        print(f"{name:24}{a:12.1f}{b:12.1f}{ratio:7.2f}x")
    print("(ratio > 1 means sac is better; for memory it is pytorch/sac)")


if __name__ == "__main__":
    main()
