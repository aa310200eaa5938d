#!/usr/bin/env python3
"""sac beside llama.cpp on the same GGUF and thread count, with the machine's memory bandwidth.

  python3 scripts/bench_llamacpp.py [--gguf PATH] [--threads 2] [--rounds 2]

1. Builds llama.cpp's `llama-bench` once, from the llama.cpp tree vendored in the
   `llama-cpp-python` source distribution on PyPI (its URL and SHA-256 from PyPI's JSON API),
   CMake Release with native CPU flags, cached under $SAC_HOME/llama.cpp/<version>. CMake comes
   from PyPI too when the machine has none.
2. Measures memory bandwidth with a copy (numpy, one thread, 512 MiB arrays, best of 5) and
   the bytes one decoded token reads (every tensor of the GGUF but the token-embedding lookup,
   which reads one row; with a tied head the embedding matrix is read once as the head), hence
   the decode ceiling: bandwidth / bytes per token.
3. Alternates `sac bench model --json` and `llama-bench -p 512 -n 64 -d 0,512 -t N -o json` for
   --rounds rounds and prints side by side, with the ratios: prefill of the 512-token prompt,
   and decoding 64 tokens at two depths (tokens already in the KV cache), 0 (llama-bench's
   plain `tg64`; sac after a 1-token prompt) and 512 (`tg64 @ d512`; sac after its 512-token
   prefill). Attention over the cache makes deep decoding slower for both, so the depths must
   match. sac decodes with Float32 activations (the exact default) and with 8-bit activations
   (`--decode-activations q8`, the arithmetic llama.cpp uses).

Needs: a release build of sac (`swift build -c release`, or --sac PATH), numpy, gguf, a C++
compiler, make.
"""
import argparse, glob, json, os, shutil, subprocess, sys, tarfile, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SAC_HOME = os.environ.get("SAC_HOME", os.path.expanduser("~/.cache/sac"))
GGUF = os.path.join(SAC_HOME, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def cmake_command():
    if shutil.which("cmake"):
        return "cmake"
    log("no cmake on PATH: installing the PyPI package `cmake`")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "cmake"], check=True)
    bindir = os.path.join(os.path.dirname(sys.executable))
    for c in [shutil.which("cmake"), os.path.join(bindir, "cmake"), os.path.expanduser("~/.local/bin/cmake")]:
        if c and os.path.exists(c):
            return c
    sys.exit("cmake installed but not found on PATH")


def build_llama_bench():
    """Path of llama-bench, building it on first use."""
    cached = glob.glob(os.path.join(SAC_HOME, "llama.cpp", "*", "build", "bin", "llama-bench"))
    if cached:
        return cached[0]
    with tempfile.TemporaryDirectory() as tmp:
        log("downloading the llama-cpp-python source distribution…")
        # From PyPI's JSON API, not `pip download --no-binary :all:`: that also builds the
        # package's build requirements (cmake among them) from source, which takes hours.
        import hashlib, urllib.request
        import urllib.parse
        api = "https://pypi.org/pypi/llama-cpp-python/json"
        with urllib.request.urlopen(api, timeout=120) as r:
            info = json.load(r)
        sd = next(u for u in info["urls"] if u["packagetype"] == "sdist")
        sdist = os.path.join(tmp, sd["filename"])
        urllib.request.urlretrieve(urllib.parse.urljoin(api, sd["url"]), sdist)  # some mirrors give relative URLs
        with open(sdist, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != sd["digests"]["sha256"]:
                sys.exit(f"{sd['url']}: SHA-256 differs from PyPI's")
        version = os.path.basename(sdist)[len("llama_cpp_python-"):-len(".tar.gz")]
        dest = os.path.join(SAC_HOME, "llama.cpp", version)
        with tarfile.open(sdist) as t:
            t.extractall(tmp, filter="data")
        src = os.path.join(tmp, f"llama_cpp_python-{version}", "vendor", "llama.cpp")
        if not os.path.isdir(src):
            sys.exit(f"{sdist} has no vendor/llama.cpp")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.exists(dest):
            shutil.rmtree(dest)
        shutil.copytree(src, dest)
    cmake = cmake_command()
    build = os.path.join(dest, "build")
    log(f"building llama-bench from llama.cpp in llama-cpp-python {version} (Release, native)…")
    subprocess.run([cmake, "-S", dest, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON",
                    "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
                    "-DLLAMA_BUILD_SERVER=OFF", "-DBUILD_SHARED_LIBS=OFF"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cmake, "--build", build, "--target", "llama-bench", "-j", str(os.cpu_count() or 2)],
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.join(build, "bin", "llama-bench")


def copy_bandwidth():
    """GB/s of a one-thread memory copy (read + write bytes), best of 5."""
    import numpy as np
    a = np.ones(1 << 27, dtype=np.float32)  # 512 MiB
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best / 1e9


def bytes_per_token(path):
    """Bytes of weights one decoded token reads: every tensor but the embedding lookup (one
    row); a tied head reads the whole embedding matrix once."""
    from gguf import GGUFReader
    r = GGUFReader(path)
    total, emb, head = 0, 0, False
    for t in r.tensors:
        n = int(t.n_bytes)
        if t.name == "token_embd.weight":
            emb = n
            continue
        if t.name == "output.weight":
            head = True
        total += n
    return total + (0 if head else emb)


def run_sac(sac, gguf, prompt, decode, activations="f32"):
    out = subprocess.run([sac, "bench", "model", "--model", gguf, "--prompt-tokens", str(prompt), "--decode", str(decode),
                          "--decode-activations", activations, "--json"], check=True, capture_output=True, text=True).stdout
    j = json.loads(out.strip().splitlines()[-1])
    return j["prefill_tok_s"], j["decode_tok_s"]


def run_llama(bench, gguf, prompt, decode, threads):
    """(prefill at depth 0, decode at depth 0, decode at depth `prompt`) tokens/s."""
    out = subprocess.run([bench, "-m", gguf, "-p", str(prompt), "-n", str(decode), "-d", f"0,{prompt}",
                          "-t", str(threads), "-o", "json"], check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)
    def pick(n_prompt, n_gen, depth):
        return next(r["avg_ts"] for r in rows
                    if r["n_prompt"] == n_prompt and r["n_gen"] == n_gen and r.get("n_depth", 0) == depth)
    return pick(prompt, 0, 0), pick(0, decode, 0), pick(0, decode, prompt)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=GGUF)
    ap.add_argument("--sac", default=os.path.join(ROOT, ".build", "release", "sac"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=64)
    a = ap.parse_args()
    if a.rounds < 1:
        sys.exit("--rounds must be at least 1")
    for p, what in [(a.gguf, "the GGUF (make model)"), (a.sac, "the sac binary (swift build -c release)")]:
        if not os.path.exists(p):
            sys.exit(f"{p}: not found; need {what}")
    bench = build_llama_bench()
    bw = copy_bandwidth()
    per_token = bytes_per_token(a.gguf)
    env_threads = {"SAC_THREADS": str(a.threads)}
    os.environ.update(env_threads)
    rows = []
    for r in range(a.rounds):
        deep = run_sac(a.sac, a.gguf, a.prompt, a.decode)  # prefill, decode at depth --prompt
        deep_q8 = run_sac(a.sac, a.gguf, a.prompt, a.decode, "q8")
        shallow = run_sac(a.sac, a.gguf, 1, a.decode)  # decode at depth 1
        shallow_q8 = run_sac(a.sac, a.gguf, 1, a.decode, "q8")
        l = run_llama(bench, a.gguf, a.prompt, a.decode, a.threads)
        row = [("prefill, %d-token prompt" % a.prompt, deep[0], None, l[0]),
               ("decode %d at depth 0" % a.decode, shallow[1], shallow_q8[1], l[1]),
               ("decode %d at depth %d" % (a.decode, a.prompt), deep[1], deep_q8[1], l[2])]
        log(f"round {r + 1}: " + "; ".join(f"{m}: sac {x:.1f}" + (f" (q8 {q:.1f})" if q else "") + f", llama.cpp {y:.1f}"
                                           for m, x, q, y in row))
        rows.append(row)
    name = os.path.basename(a.gguf)
    print(f"{name}, {a.threads} threads; {a.rounds} alternating rounds "
          f"(llama-bench: {os.path.relpath(bench, SAC_HOME)} under $SAC_HOME); tokens/s\n")
    print("| round | measure | sac | sac, q8 activations | llama.cpp | sac / llama.cpp | q8 / llama.cpp |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for i, row in enumerate(rows):
        for m, x, q, y in row:
            qs, qr = (f"{q:.1f}", f"{q / y:.2f}×") if q else ("–", "–")
            print(f"| {i + 1} | {m} | {x:.1f} | {qs} | {y:.1f} | {x / y:.2f}× | {qr} |")
    print(f"\nmemory copy bandwidth (one thread, read + write): {bw:.1f} GB/s; one decoded token reads "
          f"{per_token / 1e6:.1f} MB of weights: decode ceiling ≈ {bw * 1e9 / per_token:.0f} tokens/s "
          f"(by the copy rate; reading alone is faster)")


if __name__ == "__main__":
    main()
