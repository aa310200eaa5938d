#!/usr/bin/env python3
"""Benchmark of the SAC HTTP service (`sac serve`): compress once, ask many.

Measures against a running server (--url), or starts one itself on a free port with untrained
5x and 15x adapters made by `sac init-adapter` (latency does not depend on training):
  * compress latency of a fresh context at 5x and 15x (server-side compress_ms and round trip);
  * answer latency from the stored 5x and 15x memories against answering with the whole
    context in the prompt (/v1/chat/completions, no context_id): time to first token and total,
    all streamed, same max_tokens;
  * throughput with 1, 4, 16 and 64 concurrent clients (--clients) asking against the stored 5x
    memory, streamed: requests/s, generated tokens/s, median and 95th-percentile latency, time to
    first token.

Usage: python3 scripts/bench_serve.py [--url http://127.0.0.1:8080] [--reps 5] [--max-tokens 16]
       python3 scripts/bench_serve.py --throughput-only --clients 1,16 --per-client 8   (longer, steadier throughput runs)
Standard library only; builds nothing (run `swift build -c release` first when it starts the server).
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SAC = os.path.join(ROOT, ".build", "release", "sac")


def post(url, body, stream=False):
    """POSTs JSON; returns (status, parsed body or list of SSE payloads, seconds to first token, seconds total)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            if not stream:
                data = json.loads(r.read())
                return r.status, data, None, time.perf_counter() - t0
            first, events, buf = None, [], b""
            for line in r:
                line = line.strip()
                if not line.startswith(b"data: "):
                    continue
                payload = line[6:].decode()
                events.append(payload)
                if first is None and ('"token"' in payload or '"content"' in payload):
                    first = time.perf_counter() - t0
            return r.status, events, first, time.perf_counter() - t0
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), None, time.perf_counter() - t0


def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def start_server(args):
    """Starts `sac serve` with untrained 5x and 15x adapters; returns (process, url, temp dir)."""
    SAC = args.sac
    if not os.path.exists(SAC):
        sys.exit(f"{SAC} not found: run `swift build -c release` first")
    tmp = tempfile.mkdtemp(prefix="sac-bench-serve-")
    adapters = []
    for ratio in (5, 15):
        d = os.path.join(tmp, f"sac-{ratio}x")
        subprocess.run([SAC, "init-adapter", "--method", "sac", "--ratio", str(ratio), "--lora-rank", "8", "--out", d],
                       check=True, stderr=subprocess.DEVNULL)
        adapters += ["--adapter", d]
    p = subprocess.Popen([SAC, "serve", "--store", os.path.join(tmp, "store"), "--port", "0", "--log-level", "warning",
                          "--queue-size", str(max(64, 2 * max(args.clients))), *adapters], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("listening on "):
        p.kill()
        sys.exit(f"server did not start: {line!r}")
    return p, line.split("listening on ")[1].strip(), tmp


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (default: start one)")
    ap.add_argument("--input", default=os.path.join(ROOT, "examples", "lincoln-second-inaugural.txt"))
    ap.add_argument("--questions", default=os.path.join(ROOT, "examples", "lincoln-questions.txt"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--sac", default=SAC, help="the sac executable (when the script starts the server)")
    ap.add_argument("--clients", default="1,4,16,64", type=lambda v: [int(x) for x in v.split(",")],
                    help="concurrent client counts for the throughput table (default 1,4,16,64)")
    ap.add_argument("--per-client", type=int, default=0,
                    help="questions each client asks in a row in the throughput table (default max(2, 32 / clients))")
    ap.add_argument("--throughput-only", action="store_true",
                    help="skip the compress and single-answer latency tables (throughput against a fresh 5x memory only)")
    args = ap.parse_args()
    server = None
    url = args.url
    if not url:
        server, url, _ = start_server(args)
    try:
        run(url, args)
    finally:
        if server:
            server.terminate()
            server.wait()


def run(url, args):
    text = open(args.input, encoding="utf-8").read()
    questions = [q.strip() for q in open(args.questions, encoding="utf-8") if q.strip()]
    health = get(url + "/health")
    ratios = health["ratios"]
    print(f"server {url}: model {health['model']}, ratios {ratios}", file=sys.stderr)
    results = {"date": time.strftime("%Y-%m-%d"), "reps": args.reps, "max_tokens": args.max_tokens}
    stamp = int(time.time() * 1000)

    # Compress latency: fresh texts (a unique suffix defeats the store's de-duplication).
    memory = {}
    for ratio in ratios[:1] if args.throughput_only else ratios:
        server_ms, client_ms = [], []
        for i in range(1 if args.throughput_only else args.reps + 1):
            status, body, _, secs = post(url + "/v1/contexts", {"text": f"{text}\n\n[{stamp}-{i}]", "ratio": ratio})
            assert status == 201, (status, body)
            if i == 0:
                memory[ratio] = body
                continue  # warm-up
            server_ms.append(body["compress_ms"])
            client_ms.append(secs * 1000)
        if args.throughput_only:
            continue
        results[f"compress_{ratio}x"] = {"tokens": memory[ratio]["tokens"], "carriers": memory[ratio]["carriers"],
                                         "server_ms": median(server_ms), "round_trip_ms": median(client_ms)}

    # Answer latency, streamed: time to first token and total.
    def answers(kind):
        ttft, total, tokens = [], [], []
        for i in range(args.reps * len(questions) + 1):
            q = questions[i % len(questions)]
            if kind == "full":
                prompt = f"### Context:\n{text}\n### Question:\n{q}\n### Answer:\n"
                status, events, first, secs = post(url + "/v1/chat/completions", {
                    "messages": [{"role": "user", "content": prompt}], "max_tokens": args.max_tokens, "stream": True}, True)
                n = sum(1 for e in events if '"content"' in e)
            else:
                status, events, first, secs = post(url + f"/v1/contexts/{memory[kind]['id']}/answers", {
                    "question": q, "max_tokens": args.max_tokens, "stream": True}, True)
                n = json.loads(events[-1])["tokens"]
            assert status == 200, (status, events)
            if i == 0:
                continue  # warm-up
            ttft.append((first or secs) * 1000)
            total.append(secs * 1000)
            tokens.append(n)
        return {"first_token_ms": median(ttft), "total_ms": median(total), "tokens": median(tokens),
                "ms_per_token_after_first": median([(t - f) / max(1, n - 1) for t, f, n in zip(total, ttft, tokens)])}

    if not args.throughput_only:
        for ratio in ratios:
            results[f"answer_{ratio}x"] = answers(ratio)
        results["answer_full_context"] = answers("full")

    # Throughput: streamed answers against the first ratio's memory, every client asking
    # --per-client (default max(2, 32 / clients)) questions in a row.
    mid = memory[ratios[0]]["id"]
    for clients in args.clients:
        per_client = args.per_client or max(2, 32 // clients)
        done, lock = [], threading.Lock()

        def client(k):
            for j in range(per_client):
                q = questions[(k + j) % len(questions)]
                status, events, first, secs = post(url + f"/v1/contexts/{mid}/answers",
                                                   {"question": q, "max_tokens": args.max_tokens, "stream": True}, True)
                n = json.loads(events[-1]).get("tokens", 0) if status == 200 and events else 0
                with lock:
                    done.append((status, n, secs, first or secs))

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads: t.start()
        for t in threads: t.join()
        wall = time.perf_counter() - t0
        ok = [d for d in done if d[0] == 200]
        lat = sorted(d[2] * 1000 for d in ok)
        results[f"throughput_{clients}"] = {
            "requests": len(done), "ok": len(ok), "requests_per_s": len(ok) / wall,
            "tokens_per_s": sum(d[1] for d in ok) / wall, "median_latency_ms": median(lat),
            "p95_latency_ms": lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan"),
            "median_first_token_ms": median([d[3] * 1000 for d in ok])}

    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    print_table(results, ratios)


def print_table(r, ratios):
    if "answer_full_context" not in r:  # --throughput-only
        return print_throughput(r)
    print("\n| | tokens → carriers | first token (ms) | total (ms) | tokens generated |")
    print("|---|---:|---:|---:|---:|")
    for ratio in ratios:
        c = r[f"compress_{ratio}x"]
        print(f"| compress {ratio}x (server / round trip) | {c['tokens']} → {c['carriers']} | | "
              f"{c['server_ms']:.0f} / {c['round_trip_ms']:.0f} | |")
    for ratio in ratios:
        a = r[f"answer_{ratio}x"]
        print(f"| answer from the stored {ratio}x memory | | {a['first_token_ms']:.0f} | {a['total_ms']:.0f} | {a['tokens']:.0f} |")
    a = r["answer_full_context"]
    print(f"| answer with the full context in the prompt | | {a['first_token_ms']:.0f} | {a['total_ms']:.0f} | {a['tokens']:.0f} |")
    print_throughput(r)


def print_throughput(r):
    print("\n| concurrent clients | requests/s | generated tokens/s | median latency (ms) | p95 latency (ms) | median first token (ms) | ok / requests |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for key in sorted((k for k in r if k.startswith("throughput_")), key=lambda k: int(k.split("_")[1])):
        t, n = r[key], key.split("_")[1]
        print(f"| {n} | {t['requests_per_s']:.2f} | {t['tokens_per_s']:.1f} | {t['median_latency_ms']:.0f} | "
              f"{t['p95_latency_ms']:.0f} | {t['median_first_token_ms']:.0f} | {t['ok']} / {t['requests']} |")


if __name__ == "__main__":
    main()
