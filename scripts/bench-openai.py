#!/usr/bin/env python3
"""Overhead of the OpenAI-compatible layer: time to first token and tokens/s through POST /api/v1/chat/completions
against POST /api/completions, same prompts, same host, in one run, requests alternating (A B, then B A, ...) so that
drift in the machine's load falls on both alike. Both stream (the first token is what a client sees first), greedy,
with the same forced number of new tokens (min = max), so both generate the same tokens.

  usage: scripts/bench-openai.py --url http://127.0.0.1:7071 --key KEY [--prompts 16] [--rounds 2] [--max-tokens 64]
         [--prompt-words 48] [--json]

Prints one line per route (median and p90 of time to first token, median tokens/s) and the ratios /v1 : /api.
Stdlib only. It is a measurement, not a test: run it on an idle machine.
"""
import argparse
import http.client
import json
import statistics
import sys
import time
import urllib.parse


def stream(url, path, body, headers):
    """POSTs body, reads the event stream; returns (seconds to the first non-empty token, seconds from the first token to
    the last, output tokens)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=300)
    start = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {response.read()[:300]!r}")
    first = last = None
    tokens = None
    for raw in response:
        line = raw.decode("utf-8").strip()
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            break
        event = json.loads(data)
        text = None
        if "token" in event:                                   # /api/completions: a token event
            text = event["token"]["text"]
        elif "output_tokens" in event:                         # /api/completions: the prompt's final object
            tokens = event["output_tokens"]
        elif event.get("choices"):                             # /v1: a chunk
            text = event["choices"][0].get("delta", {}).get("content")
        elif event.get("usage"):                               # /v1: the usage chunk
            tokens = event["usage"]["completion_tokens"]
        if text:
            now = time.perf_counter()
            first = first if first is not None else now
            last = now
    conn.close()
    if first is None or tokens is None:
        raise RuntimeError(f"{path}: no token or no count in the stream")
    return first - start, last - first, tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7071")
    parser.add_argument("--key", default="", help="the app's OpenAi__ApiKey (Bearer)")
    parser.add_argument("--function-key", default="", help="x-functions-key for /api/completions (Azure)")
    parser.add_argument("--model", default=None, help="model id (default: GET /api/v1/models)")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--prompt-words", type=int, default=48)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    bearer = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    function = {"x-functions-key": args.function_key} if args.function_key else {}
    model = args.model
    if model is None:
        parts = urllib.parse.urlsplit(args.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
        conn.request("GET", "/api/v1/models", headers=bearer)
        model = json.loads(conn.getresponse().read())["data"][0]["id"]
    words = "the quick brown fox jumps over a lazy dog near Ganymede".split()
    prompts = [f"Question {i}: " + " ".join(words[(i + j) % len(words)] for j in range(args.prompt_words)) for i in range(args.prompts)]
    n = args.max_tokens

    def native(prompt):
        return stream(args.url, "/api/completions",
                      {"prompt": prompt, "stream": True, "parameters": {"max_new_tokens": n, "min_new_tokens": n}}, function)

    def v1(prompt):
        # One user message: the chat template gives the prompt itself, so both routes run the same prompt.
        return stream(args.url, "/api/v1/chat/completions",
                      {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": n, "min_tokens": n,
                       "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}, bearer)

    native(prompts[0]), v1(prompts[0])  # warm-up (not counted)
    results = {"api": [], "v1": []}
    turn = 0
    for _ in range(args.rounds):
        for prompt in prompts:
            order = [("api", native), ("v1", v1)] if turn % 2 == 0 else [("v1", v1), ("api", native)]
            turn += 1
            for name, run in order:
                results[name].append(run(prompt))

    summary = {}
    for name, runs in results.items():
        ttft = sorted(r[0] * 1000 for r in runs)
        rate = [(r[2] - 1) / r[1] for r in runs if r[1] > 0 and r[2] > 1]
        summary[name] = {
            "requests": len(runs),
            "ttft_ms_p50": round(statistics.median(ttft), 1),
            "ttft_ms_p90": round(ttft[int(0.9 * (len(ttft) - 1))], 1),
            "tokens_per_s_p50": round(statistics.median(rate), 1) if rate else None,
            "output_tokens": statistics.median(r[2] for r in runs),
        }
    summary["ratio_v1_to_api"] = {
        "ttft_p50": round(summary["v1"]["ttft_ms_p50"] / summary["api"]["ttft_ms_p50"], 3),
        "tokens_per_s_p50": round(summary["v1"]["tokens_per_s_p50"] / summary["api"]["tokens_per_s_p50"], 3)
        if summary["v1"]["tokens_per_s_p50"] and summary["api"]["tokens_per_s_p50"] else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for name in ("api", "v1"):
            s = summary[name]
            print(f"{name:>3}: {s['requests']} requests, time to first token p50 {s['ttft_ms_p50']} ms (p90 {s['ttft_ms_p90']}), "
                  f"{s['tokens_per_s_p50']} tokens/s p50, {s['output_tokens']} tokens each")
        r = summary["ratio_v1_to_api"]
        print(f"/v1 : /api  time to first token {r['ttft_p50']}, tokens/s {r['tokens_per_s_p50']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
