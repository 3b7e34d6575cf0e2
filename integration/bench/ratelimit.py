#!/usr/bin/env python3
"""What the fleet-wide limits cost (scripts/bench --ratelimit): added latency with limits on
versus off, and the rate limit service's checks per second at one core.

Latency: two gateways from scripts/render-envoy, both with the genai filter and the demo
configuration, in front of one mock provider (`--no-record`):
  off  the configuration without `rate_limits` (no rate limit filters, no descriptors);
  on   the same with `rate_limits`: both of Envoy's rate limit filters ask the service
       (services/ratelimit) at admission and charge at stream end, counters in Redis.
The bench team has limits far above the load (every request is checked and charged, none is
refused). Requests are the main bench's 4 KB chat request, sent one at a time on a kept-alive
connection (closed loop, concurrency 1), in rounds that alternate off/on so that drift on the
shared machine hits both alike; each round gives p50 and p99 per variant, the figure is the
median over rounds of on - off, with min and max.

Throughput: services/ratelimit/examples/rls_load against the service alone, the service pinned
to one core (`taskset -c 1`), Redis and the load generator on the other.

Writes target/bench/ratelimit.json and prints a table. Never fails on timing; fails on a broken
setup (a non-200 answer, a refused check).
"""
from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "integration/tests"))
sys.path.insert(0, str(ROOT / "integration/bench"))

from harness import DEMO_CONFIG, MOCK_BIN, RateLimitService, Redis, free_port, wait_until  # noqa: E402
from run import WORKLOADS, chat_body, loadavg, provider_env  # noqa: E402

OUT = ROOT / "target/bench/ratelimit"
LOAD = ROOT / "target/release/examples/rls_load"
TEAM_KEY = "team-abc-key-xxxxx"


def log(msg: str) -> None:
    print(f"[bench ratelimit {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def bench_config(path: pathlib.Path) -> pathlib.Path:
    """The demo configuration; team-abc's limits far above what the bench sends."""
    c = json.loads(DEMO_CONFIG.read_text())
    for team in c["teams"]:
        if team["name"] == "team-abc":
            team.update(requests_per_minute=100_000_000, tokens_per_minute=1_000_000_000,
                        daily_budget_dollars=1_000_000, monthly_budget_dollars=3_000_000)
    path.write_text(json.dumps(c, indent=1))
    return path


class Envoy:
    def __init__(self, name: str, config: pathlib.Path, mock_port: int, service: RateLimitService | None,
                 envoy: str):
        self.port, self.admin_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.yaml = OUT / f"envoy-{name}.yaml"
        self.log = OUT / f"envoy-{name}.log"
        args = [str(ROOT / "scripts/render-envoy"), str(self.yaml), "--filter-config", str(config),
                "--listen", f"127.0.0.1:{self.port}", "--admin", f"127.0.0.1:{self.admin_port}",
                "--provider", f"127.0.0.1:{mock_port}"]
        if service:
            args += ["--ratelimit", service.grpc, "--ratelimit-http", f"127.0.0.1:{service.http_port}"]
        else:
            args += ["--without-ratelimit"]
        subprocess.run(args, check=True)
        self.proc = subprocess.Popen(
            [envoy, "-c", str(self.yaml), "--concurrency", "1", "--log-level", "warn", "--disable-hot-restart",
             "--base-id", str(free_port())],
            stdout=subprocess.DEVNULL, stderr=self.log.open("wb"), env=provider_env())
        import httpx
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{self.admin_port}/ready", timeout=2).status_code == 200,
                   120, f"Envoy {name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def closed_loop(port: int, body: bytes, n: int) -> list[float]:
    """n requests one after another on one kept-alive connection; latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json", "authorization": f"Bearer {TEAM_KEY}"}
    out = []
    try:
        for _ in range(n):
            t = time.perf_counter_ns()
            conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            out.append((time.perf_counter_ns() - t) / 1e6)
            if r.status != 200:
                raise SystemExit(f"bench ratelimit: {r.status} from 127.0.0.1:{port}: {data[:300]!r}")
    finally:
        conn.close()
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def mmm(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def throughput(service: RateLimitService, seconds: float, budget: bool) -> dict:
    cmd = ["taskset", "-c", "0", str(LOAD), "--grpc", service.grpc, "--team", "team-abc", "--seconds",
           str(seconds), "--concurrency", "32"] + (["--budget"] if budget else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise SystemExit(f"bench ratelimit: rls_load failed: {out.stderr[-2000:]}")
    r = json.loads(out.stdout)
    if r["errors"] or r["over_limit"]:
        raise SystemExit(f"bench ratelimit: checks failed or were refused: {r}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--requests", type=int, default=1500, help="requests per variant per round")
    ap.add_argument("--seconds", type=float, default=5.0, help="each throughput run")
    ap.add_argument("--doc", action="store_true", help="rewrite the fleet-wide limits section of docs/benchmarks.md")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    config = bench_config(OUT / "filter-config.json")
    started = time.monotonic()
    load_start = loadavg()
    procs = []
    redis = Redis(OUT / "redis")
    for f in (OUT / "redis").glob("appendonly*"):
        subprocess.run(["rm", "-rf", str(f)], check=True)
    redis.start()
    # The service on core 1 only: its tokio runtime then has one worker (available_parallelism).
    service = RateLimitService(OUT, config, redis)
    service_cmd_prefix = ["taskset", "-c", "1"]
    import harness
    saved = harness.RATELIMIT_BIN
    wrapper = OUT / "ratelimit-on-core-1"
    wrapper.write_text(f"#!/bin/sh\nexec {' '.join(service_cmd_prefix)} {saved} \"$@\"\n")
    wrapper.chmod(0o755)
    harness.RATELIMIT_BIN = wrapper
    try:
        service.start()
    finally:
        harness.RATELIMIT_BIN = saved
    mock_port = free_port()
    mock = subprocess.Popen([str(MOCK_BIN), "--listen", f"127.0.0.1:{mock_port}", "--no-record"],
                            stdout=(OUT / "mock.log").open("wb"), stderr=subprocess.STDOUT)
    procs.append(mock)
    import httpx
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{mock_port}/__mock/health").status_code == 200, 15, "the mock")
    results: dict = {}
    try:
        off = Envoy("off", config, mock_port, None, args.envoy)
        on = Envoy("on", config, mock_port, service, args.envoy)
        envoys = {"off": off, "on": on}
        body = WORKLOADS["4k"]["body"] if "4k" in WORKLOADS else chat_body(4096)
        log("warm-up")
        for e in envoys.values():
            closed_loop(e.port, body, 300)
        checks_before = service.metrics().get('genai_ratelimit_checks_total{decision="ok"}', 0)
        per = {"off": {"p50": [], "p99": []}, "on": {"p50": [], "p99": []}}
        diff = {"p50": [], "p99": []}
        for rnd in range(args.rounds):
            order = ["off", "on"] if rnd % 2 == 0 else ["on", "off"]
            got = {}
            for name in order:
                lat = closed_loop(envoys[name].port, body, args.requests)
                got[name] = (pct(lat, 0.5), pct(lat, 0.99))
                per[name]["p50"].append(got[name][0])
                per[name]["p99"].append(got[name][1])
            diff["p50"].append(got["on"][0] - got["off"][0])
            diff["p99"].append(got["on"][1] - got["off"][1])
            log(f"round {rnd + 1}/{args.rounds}: off p50 {got['off'][0]:.3f} p99 {got['off'][1]:.3f} ms, "
                f"on p50 {got['on'][0]:.3f} p99 {got['on'][1]:.3f} ms")
        checked = service.metrics().get('genai_ratelimit_checks_total{decision="ok"}', 0) - checks_before
        over = service.metrics().get('genai_ratelimit_checks_total{decision="over_limit"}', 0)
        if over:
            raise SystemExit(f"bench ratelimit: {over} checks were over a limit; the figures would be wrong")
        results["latency"] = {
            "added_p50_ms": mmm(diff["p50"]), "added_p99_ms": mmm(diff["p99"]),
            "off_p50_ms": mmm(per["off"]["p50"]), "on_p50_ms": mmm(per["on"]["p50"]),
            "off_p99_ms": mmm(per["off"]["p99"]), "on_p99_ms": mmm(per["on"]["p99"]),
            "requests_per_variant_per_round": args.requests, "rounds": args.rounds,
            "service_checks_per_limited_request": checked / (args.rounds * args.requests),
        }
        off.stop()
        on.stop()
        log("service throughput (service on core 1, load generator and Redis on core 0)")
        subprocess.run(["taskset", "-p", "-c", "0", str(redis.proc.pid)], check=True, capture_output=True)
        results["throughput_rate_check"] = throughput(service, args.seconds, budget=False)
        results["throughput_budget_check"] = throughput(service, args.seconds, budget=True)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        service.stop()
        redis.stop()
    results["machine"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(), "loadavg_start": load_start, "loadavg_end": loadavg(),
        "envoy": subprocess.run([args.envoy, "--version"], capture_output=True, text=True).stdout.strip()[-80:],
        "seconds": round(time.monotonic() - started, 1),
    }
    (ROOT / "target/bench/ratelimit.json").write_text(json.dumps(results, indent=1))
    rows = table(results)
    print(rows)
    print(json.dumps(results["machine"]))
    if args.doc:
        write_doc(results, rows)
        log(f"wrote the fleet-wide limits section of {ROOT / 'docs/benchmarks.md'}")


def table(results: dict) -> str:
    lat = results["latency"]
    out = ["| figure | median (min … max) | unit |", "| --- | --- | --- |"]
    for label, key in [("added p50 latency, 4 KB, limits on − off", "added_p50_ms"),
                       ("added p99 latency, 4 KB, limits on − off", "added_p99_ms"),
                       ("p50 latency, 4 KB, limits off", "off_p50_ms"), ("p50 latency, 4 KB, limits on", "on_p50_ms"),
                       ("p99 latency, 4 KB, limits off", "off_p99_ms"), ("p99 latency, 4 KB, limits on", "on_p99_ms")]:
        v = lat[key]
        out.append(f"| {label} | {v['median']:.3f} ({v['min']:.3f} … {v['max']:.3f}) | ms |")
    out.append(f"| service checks answered per limited request | {lat['service_checks_per_limited_request']:.2f} "
               "| checks |")
    for label, key in [("service checks per second at one core, admission rate check (rpm + tpm_check)",
                        "throughput_rate_check"),
                       ("service checks per second at one core, admission budget check", "throughput_budget_check")]:
        t = results[key]
        out.append(f"| {label} | {t['calls_per_second']:.0f} (p50 {t['p50_us']} µs, p99 {t['p99_us']} µs, "
                   f"32 in flight) | checks/s |")
    return "\n".join(out)


def write_doc(results: dict, rows: str) -> None:
    m = results["machine"]
    lat = results["latency"]
    section = f"""<!-- ratelimit:begin -->
## Fleet-wide limits (rate limit service and Redis)

Written by `scripts/bench --ratelimit` (about 3 minutes once built; `integration/bench/ratelimit.py`),
run {m['date']} on {m['cores']} cores, load average {m['loadavg_start']:.2f} at start and
{m['loadavg_end']:.2f} at end (other work shares this machine), {m['envoy']}, {m['seconds']} s in all.

Two gateways rendered by `scripts/render-envoy` from the demo configuration, one Envoy worker
each, in front of one mock provider: **off** without `rate_limits`, **on** with them (both of
Envoy's rate limit filters ask `services/ratelimit` at admission and charge at stream end; the
counters in a local `redis-server`; team-abc's limits far above the load, so every request is
checked and charged and none is refused). The 4 KB chat request of the main bench, sent one at a
time on a kept-alive connection, {lat['requests_per_variant_per_round']} per variant per round,
{lat['rounds']} rounds alternating off/on; on − off is taken per round, then the median (min … max).
The service's throughput: `services/ratelimit/examples/rls_load` keeps 32 `ShouldRateLimit` calls
in flight on one HTTP/2 connection for 5 s against the service alone, the service pinned to
core 1 (`taskset -c 1`: its runtime then has one worker), Redis and the load generator on core 0.

{rows}

What this means: the limits add two gRPC round trips on loopback to each request's admission
(the budget filter, then the rate filter, each waiting for the service, which waits for Redis),
plus two at stream end that the client does not wait for. A fleet needs one service core per
"checks per second" above divided by about 2-4 checks per request (the row above: checks
answered per limited request, counted by the service).
<!-- ratelimit:end -->
"""
    path = ROOT / "docs/benchmarks.md"
    text = path.read_text()
    import re
    if "<!-- ratelimit:begin -->" in text:
        text = re.sub(r"<!-- ratelimit:begin -->.*?<!-- ratelimit:end -->\n", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    main()
