#!/usr/bin/env python3
"""Load test of the SAC HTTP service (`sac serve`): bad load, not best-case speed.

Starts `sac serve` on a free port (untrained 5x adapter from `sac init-adapter`, a fresh store,
a queue bound smaller than the client count), then --clients threads send --requests requests
in all, mixed:
  * compress (POST /v1/contexts, a fresh short text each time)      --compress share
  * chat (POST /v1/chat/completions, streamed)                       --chat share
  * answer from a stored memory (POST /v1/contexts/ID/answers, streamed), the rest;
and a --disconnect share of the streamed requests hang up after their first event.

Checks, each printed as PASS/FAIL (exit status 1 if any fails):
  * the server stays up (GET /health answers after the load, the process has not exited);
  * every 503 carries a Retry-After header; no other 5xx;
  * every streamed answer that was read to its end ends with its final event;
  * resident memory (VmRSS) after the load against after the warm-up, reported, with the
    growth per 1,000 requests;
  * `sac store verify` passes on the store after the server stops.

Usage: python3 scripts/load_serve.py [--requests 10000] [--clients 64] [--queue-size 16] [--backoff 0.5]
Standard library only; needs a release build (`swift build -c release`, or --sac PATH).
"""
import argparse, http.client, json, os, random, subprocess, sys, tempfile, threading, time, urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SAC = os.path.join(ROOT, ".build", "release", "sac")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class Client:
    """One keep-alive-free HTTP client per request: a disconnect closes the socket mid-stream."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port

    def request(self, path, body, stream=False, hang_up=False):
        """Returns (status, headers, events or parsed body, completed)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        try:
            # Connection: close, so that a stream's end is the end of the socket (a kept-alive
            # connection would leave the raw read below waiting for the next response).
            conn.request("POST", path, body=json.dumps(body),
                         headers={"Content-Type": "application/json", "Connection": "close"})
            r = conn.getresponse()
            headers = {k.lower(): v for k, v in r.getheaders()}
            if r.status != 200 and r.status != 201 or not stream:
                data = r.read()
                try:
                    parsed = json.loads(data or b"{}")
                except ValueError:
                    parsed = {"raw": data[:200].decode(errors="replace")}
                return r.status, headers, parsed, True
            events = []
            while True:
                line = r.fp.readline()
                if not line:
                    break
                line = line.strip()
                if line.startswith(b"data: "):
                    events.append(line[6:].decode())
                    if hang_up:
                        return r.status, headers, events, False  # close mid-stream
                    if events[-1] == "[DONE]" or '"done":true' in events[-1]:
                        break  # the final event (answers: done, chat: [DONE])
            return r.status, headers, events, True
        finally:
            conn.close()

    def get(self, path):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"{}")
        finally:
            conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=10000)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--queue-size", type=int, default=16, help="the server's queue bound (below --clients: some 503s)")
    ap.add_argument("--max-tokens", type=int, default=4)
    ap.add_argument("--compress", type=float, default=0.05)
    ap.add_argument("--chat", type=float, default=0.15)
    ap.add_argument("--disconnect", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backoff", type=float, default=0.5,
                    help="after a 503, a client waits a random 0…BACKOFF seconds before its next request "
                         "(0: retry at once, which turns most requests into 503s)")
    ap.add_argument("--sac", default=SAC)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if not os.path.exists(args.sac):
        sys.exit(f"{args.sac} not found: run `swift build -c release` first")

    tmp = tempfile.mkdtemp(prefix="sac-load-")
    adapter, store = os.path.join(tmp, "sac-5x"), os.path.join(tmp, "store")
    subprocess.run([args.sac, "init-adapter", "--method", "sac", "--ratio", "5", "--lora-rank", "8", "--out", adapter],
                   check=True, stderr=subprocess.DEVNULL)
    server = subprocess.Popen([args.sac, "serve", "--store", store, "--port", "0", "--log-level", "error",
                               "--queue-size", str(args.queue_size), "--adapter", adapter],
                              stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if not line.startswith("listening on "):
        server.kill()
        sys.exit(f"server did not start: {line!r}")
    url = line.split("listening on ")[1].strip()
    client = Client(url)
    text = open(os.path.join(ROOT, "examples", "lincoln-second-inaugural.txt"), encoding="utf-8").read()
    questions = [q.strip() for q in open(os.path.join(ROOT, "examples", "lincoln-questions.txt"), encoding="utf-8") if q.strip()]
    paragraphs = [p for p in text.split("\n\n") if len(p) > 200]
    failures = []

    try:
        # Warm-up: one memory to answer from, a few of each request kind, then the RSS baseline.
        status, _, body, _ = client.request("/v1/contexts", {"text": text, "ratio": 5})
        assert status == 201, (status, body)
        memory_id = body["id"]
        for q in questions[:4]:
            client.request(f"/v1/contexts/{memory_id}/answers", {"question": q, "max_tokens": args.max_tokens, "stream": True}, True)
            client.request("/v1/chat/completions", {"messages": [{"role": "user", "content": q}],
                                                    "max_tokens": args.max_tokens, "stream": True}, True)
        rss_start = rss_kb(server.pid)
        print(f"server {url} (pid {server.pid}): RSS after warm-up {rss_start / 1024:.1f} MiB", file=sys.stderr)

        counts, lock = {}, threading.Lock()
        problems = []
        next_index = [0]
        t0 = time.perf_counter()

        def worker(k):
            rng = random.Random(args.seed * 1000 + k)
            while True:
                with lock:
                    i = next_index[0]
                    if i >= args.requests:
                        return
                    next_index[0] += 1
                    if i and i % 1000 == 0:
                        el = time.perf_counter() - t0
                        print(f"{i}/{args.requests} requests | {i / el:.1f}/s | RSS {rss_kb(server.pid) / 1024:.1f} MiB",
                              file=sys.stderr, flush=True)
                u = rng.random()
                hang_up = rng.random() < args.disconnect
                q = rng.choice(questions)
                try:
                    if u < args.compress:
                        kind = "compress"
                        p = rng.choice(paragraphs)
                        status, headers, body, done = client.request("/v1/contexts", {"text": f"{p}\n\n[{i}]", "ratio": 5})
                    elif u < args.compress + args.chat:
                        kind = "chat"
                        status, headers, body, done = client.request(
                            "/v1/chat/completions", {"messages": [{"role": "user", "content": q}],
                                                     "max_tokens": args.max_tokens, "stream": True}, True, hang_up)
                    else:
                        kind = "answer"
                        status, headers, body, done = client.request(
                            f"/v1/contexts/{memory_id}/answers", {"question": q, "max_tokens": args.max_tokens,
                                                                   "stream": True}, True, hang_up)
                except (OSError, http.client.HTTPException) as e:
                    with lock:
                        problems.append(f"request {i}: {type(e).__name__}: {e}")
                    continue
                if status == 503 and args.backoff > 0:
                    time.sleep(rng.uniform(0, args.backoff))
                key = f"{kind} {status}" + (" (hung up)" if not done else "")
                with lock:
                    counts[key] = counts.get(key, 0) + 1
                    if status == 503 and "retry-after" not in headers:
                        problems.append(f"request {i} ({kind}): 503 without Retry-After")
                    elif status >= 500 and status != 503:
                        problems.append(f"request {i} ({kind}): {status} {str(body)[:200]}")
                    elif status == 200 and done and kind != "compress":
                        last = body[-1] if body else ""
                        if kind == "answer" and '"tokens"' not in last:
                            problems.append(f"request {i} (answer): stream ended without its final event: {last[:120]}")
                        if kind == "chat" and last != "[DONE]":
                            problems.append(f"request {i} (chat): stream ended without [DONE]: {last[:120]}")

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.clients)]
        for t in threads: t.start()
        for t in threads: t.join()
        wall = time.perf_counter() - t0
        time.sleep(1)
        rss_end = rss_kb(server.pid)
        alive = server.poll() is None
        health = client.get("/health")[0] if alive else None

        served = sum(n for k, n in counts.items() if " 20" in k)
        print(f"\n{args.requests} requests from {args.clients} clients in {wall:.0f} s ({args.requests / wall:.1f}/s; "
              f"{served} served, {served / wall:.1f}/s), queue bound {args.queue_size}, max_tokens {args.max_tokens}, "
              f"backoff after a 503 up to {args.backoff} s")
        print("\n| request | status | count |\n|---|---|---:|")
        for key in sorted(counts):
            kind, rest = key.split(" ", 1)
            print(f"| {kind} | {rest} | {counts[key]} |")
        growth = (rss_end - rss_start) / 1024
        print(f"\nRSS: {rss_start / 1024:.1f} MiB after warm-up, {rss_end / 1024:.1f} MiB after the load "
              f"({growth:+.1f} MiB, {growth / (args.requests / 1000):+.2f} MiB per 1,000 requests)")

        def check(name, ok, detail=""):
            print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
            if not ok:
                failures.append(name)

        check("server up after the load", alive and health == 200, f"process alive {alive}, /health {health}")
        check("503s carry Retry-After, no other 5xx, streams end with their final event", not problems,
              "; ".join(problems[:5]) + (f" … ({len(problems)} in all)" if len(problems) > 5 else ""))
        results = {"date": time.strftime("%Y-%m-%d"), "requests": args.requests, "clients": args.clients,
                   "queue_size": args.queue_size, "max_tokens": args.max_tokens, "seconds": wall, "counts": counts,
                   "rss_start_kb": rss_start, "rss_end_kb": rss_end, "problems": problems[:50]}
    finally:
        server.terminate()
        server.wait()

    v = subprocess.run([args.sac, "store", "verify", "--store", store], capture_output=True, text=True)
    print(f"{'PASS' if v.returncode == 0 else 'FAIL'} sac store verify: {(v.stdout + v.stderr).strip().splitlines()[-1:]}")
    if v.returncode != 0:
        failures.append("store verify")
    results["store_verify"] = v.returncode == 0
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
