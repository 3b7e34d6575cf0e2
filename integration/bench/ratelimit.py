#!/usr/bin/env python3
"""What the fleet-wide limits cost (scripts/bench --ratelimit): added latency with limits on
versus off, where that time goes, and the rate limit service's checks per second at one core.

Latency: three gateways from scripts/render-envoy, all with the genai filter and the demo
configuration, in front of one mock provider (`--no-record`):
  off          the configuration without `rate_limits`: no descriptors, no rate limit filters;
  descriptors  with `rate_limits` but rendered --without-ratelimit: the filter does its part
               (the prompt's heuristic token count, the worst-case cost, the descriptor headers),
               Envoy has no rate limit filters;
  on           with `rate_limits`: both of Envoy's rate limit filters ask the service
               (services/ratelimit) at admission and charge at stream end, counters in Redis.
The bench team has limits far above the load (every request is checked and charged, none is
refused). Requests are the main bench's 4 KB chat request, sent one at a time on a kept-alive
connection (closed loop, concurrency 1), in rounds that rotate the variants' order so that
drift on the shared machine hits all alike; each round gives p50 and p99 per variant, a figure
is the median over rounds of the per-round difference, with min and max. The service and Redis
are not pinned here (as deployed).

Where the time goes, in the same run: the service's answer to each kind of admission check,
one at a time (services/ratelimit/examples/rls_load, concurrency 1): a check with no known
team (the gRPC round trip alone, no Redis), the rate check, the budget check; Redis's own
round trip (redis-benchmark GET, one connection); Redis commands per limited request (INFO
commandstats over the latency rounds).

Throughput: rls_load against a second service started pinned to one core (`taskset -c 1`),
Redis and the load generator on the other.

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


def bench_config(path: pathlib.Path, limits: bool = True, two_calls: bool = False) -> pathlib.Path:
    """The demo configuration; team-abc's limits far above what the bench sends. Without
    `limits`, the same with no `rate_limits` section (the filter then sends no descriptors)."""
    c = json.loads(DEMO_CONFIG.read_text())
    for team in c["teams"]:
        if team["name"] == "team-abc":
            team.update(requests_per_minute=100_000_000, tokens_per_minute=1_000_000_000,
                        daily_budget_dollars=1_000_000, monthly_budget_dollars=3_000_000)
    if not limits:
        c.pop("rate_limits", None)
    elif two_calls:
        # Budgets failing open while rates fail closed: render-envoy then keeps a budgeted
        # request's budget and rate checks in two calls (scripts/render-envoy one_admission_call).
        c["rate_limits"]["failure_mode"] = {"budgets": "open", "rate_limits": "closed"}
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


# 503 rate_limit_unavailable answers per port: a budget check that did not answer within
# rate_limits.timeout_ms (budgets fail closed). Counted and reported, not fatal.
UNAVAILABLE: dict[int, int] = {}


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
            if r.status == 503 and b"rate_limit_unavailable" in data:
                UNAVAILABLE[port] = UNAVAILABLE.get(port, 0) + 1
                continue
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


def rls_load(grpc: str, seconds: float, concurrency: int, team: str = "team-abc", budget: bool = False,
             pin: str | None = None) -> dict:
    cmd = ([] if pin is None else ["taskset", "-c", pin]) + [
        str(LOAD), "--grpc", grpc, "--team", team, "--seconds", str(seconds), "--concurrency", str(concurrency)]
    cmd += ["--budget"] if budget else []
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise SystemExit(f"bench ratelimit: rls_load failed: {out.stderr[-2000:]}")
    r = json.loads(out.stdout)
    # A refusal means the bench's limits are wrong; a few errors under load (a Redis call over
    # the service's deadline on a loaded machine) are reported, not fatal.
    if r["over_limit"] or r["errors"] > r["calls"] / 1000:
        raise SystemExit(f"bench ratelimit: checks failed or were refused: {r} {out.stderr[-500:]}")
    if r["errors"]:
        r["first_error"] = out.stderr.strip()[-300:]
        log(f"rls_load: {r['errors']} errors of {r['calls']} calls: {r['first_error']}")
    return r


def redis_round_trip(redis: Redis) -> dict:
    """redis-benchmark GET on one connection: Redis's own round trip on loopback."""
    out = subprocess.run(["redis-benchmark", "-p", str(redis.port), "-c", "1", "-n", "20000", "-t", "get", "--csv"],
                         capture_output=True, text=True, timeout=120, check=True).stdout.splitlines()
    head, row = [c.strip('"') for c in out[0].split(",")], [c.strip('"') for c in out[-1].split(",")]
    r = dict(zip(head, row))
    return {"p50_us": float(r["p50_latency_ms"]) * 1000, "p99_us": float(r["p99_latency_ms"]) * 1000}


def redis_commands(redis: Redis) -> int:
    """Commands Redis has run (INFO commandstats), INFO itself excluded."""
    total = 0
    for line in redis.cli("info", "commandstats").splitlines():
        if line.startswith("cmdstat_") and not line.startswith("cmdstat_info:"):
            total += int(line.split("calls=")[1].split(",")[0])
    return total


def checks_ok(service: RateLimitService) -> float:
    return service.metrics().get('genai_ratelimit_checks_total{decision="ok"}', 0)


def start_service(config: pathlib.Path, redis: Redis, name: str, pin: str | None) -> RateLimitService:
    """The service; with `pin`, on that core only (its tokio runtime then has one worker,
    available_parallelism)."""
    import harness
    workdir = OUT / name
    workdir.mkdir(parents=True, exist_ok=True)
    service = RateLimitService(workdir, config, redis)
    if pin is None:
        return service.start()
    saved = harness.RATELIMIT_BIN
    wrapper = OUT / f"ratelimit-on-core-{pin}"
    wrapper.write_text(f"#!/bin/sh\nexec taskset -c {pin} {saved} \"$@\"\n")
    wrapper.chmod(0o755)
    harness.RATELIMIT_BIN = wrapper
    try:
        return service.start()
    finally:
        harness.RATELIMIT_BIN = saved


VARIANTS = ["off", "descriptors", "on", "on_two_calls"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--requests", type=int, default=1500, help="requests per variant per round")
    ap.add_argument("--seconds", type=float, default=5.0, help="each throughput run")
    ap.add_argument("--doc", action="store_true", help="rewrite the fleet-wide limits section of docs/benchmarks.md")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    config = bench_config(OUT / "filter-config.json")
    config_off = bench_config(OUT / "filter-config-off.json", limits=False)
    config_two = bench_config(OUT / "filter-config-two-calls.json", two_calls=True)
    started = time.monotonic()
    load_start = loadavg()
    procs = []
    redis = Redis(OUT / "redis")
    for f in (OUT / "redis").glob("appendonly*"):
        subprocess.run(["rm", "-rf", str(f)], check=True)
    redis.start()
    service = start_service(config, redis, "service", pin=None)
    pinned = None
    mock_port = free_port()
    mock = subprocess.Popen([str(MOCK_BIN), "--listen", f"127.0.0.1:{mock_port}", "--no-record"],
                            stdout=(OUT / "mock.log").open("wb"), stderr=subprocess.STDOUT)
    procs.append(mock)
    import httpx
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{mock_port}/__mock/health").status_code == 200, 15, "the mock")
    results: dict = {}
    envoys: dict = {}
    try:
        envoys = {"off": Envoy("off", config_off, mock_port, None, args.envoy),
                  "descriptors": Envoy("descriptors", config, mock_port, None, args.envoy),
                  "on": Envoy("on", config, mock_port, service, args.envoy),
                  "on_two_calls": Envoy("on_two_calls", config_two, mock_port, service, args.envoy)}
        body = WORKLOADS["4k"]["body"] if "4k" in WORKLOADS else chat_body(4096)
        log("warm-up")
        for e in envoys.values():
            closed_loop(e.port, body, 300)
        counted = {v: [0, 0] for v in VARIANTS}  # service checks, Redis commands
        per = {v: {"p50": [], "p99": []} for v in VARIANTS}
        diff = {k: [] for k in ("p50", "p99", "filter_p50", "filter_p99", "rls_p50", "rls_p99", "two_p50", "two_p99")}
        for rnd in range(args.rounds):
            order = VARIANTS[rnd % len(VARIANTS):] + VARIANTS[:rnd % len(VARIANTS)]
            if rnd % 2:
                order.reverse()
            got = {}
            for name in order:
                # Redis's count first: the service's /metrics reads Redis itself.
                commands, checks = redis_commands(redis), checks_ok(service)
                lat = closed_loop(envoys[name].port, body, args.requests)
                counted[name][1] += redis_commands(redis) - commands
                counted[name][0] += checks_ok(service) - checks
                got[name] = (pct(lat, 0.5), pct(lat, 0.99))
                per[name]["p50"].append(got[name][0])
                per[name]["p99"].append(got[name][1])
            for i, q in enumerate(("p50", "p99")):
                diff[q].append(got["on"][i] - got["off"][i])
                diff[f"filter_{q}"].append(got["descriptors"][i] - got["off"][i])
                diff[f"rls_{q}"].append(got["on"][i] - got["descriptors"][i])
                diff[f"two_{q}"].append(got["on_two_calls"][i] - got["off"][i])
            log(f"round {rnd + 1}/{args.rounds}: " + ", ".join(
                f"{n} p50 {got[n][0]:.3f} p99 {got[n][1]:.3f} ms" for n in VARIANTS))
        sent = args.rounds * args.requests
        over = service.metrics().get('genai_ratelimit_checks_total{decision="over_limit"}', 0)
        if over:
            raise SystemExit(f"bench ratelimit: {over} checks were over a limit; the figures would be wrong")
        results["latency"] = {
            "added_p50_ms": mmm(diff["p50"]), "added_p99_ms": mmm(diff["p99"]),
            "filter_p50_ms": mmm(diff["filter_p50"]), "filter_p99_ms": mmm(diff["filter_p99"]),
            "rls_p50_ms": mmm(diff["rls_p50"]), "rls_p99_ms": mmm(diff["rls_p99"]),
            "two_calls_added_p50_ms": mmm(diff["two_p50"]), "two_calls_added_p99_ms": mmm(diff["two_p99"]),
            **{f"{v}_{q}_ms": mmm(per[v][q]) for v in VARIANTS for q in ("p50", "p99")},
            "requests_per_variant_per_round": args.requests, "rounds": args.rounds,
            "service_checks_per_limited_request": {v: counted[v][0] / sent for v in ("on", "on_two_calls")},
            "redis_commands_per_limited_request": {v: counted[v][1] / sent for v in ("on", "on_two_calls")},
        }
        # Checks that did not answer within rate_limits.timeout_ms: a budget check would have
        # been a 503 (and stopped the bench), a rate check admitted (fail open) and counted here.
        results["latency"]["envoy_ratelimit_stats"] = {}
        for v in ("on", "on_two_calls"):
            stats = httpx.get(f"http://127.0.0.1:{envoys[v].admin_port}/stats?filter=ratelimit").text
            results["latency"]["envoy_ratelimit_stats"].update({
                f"{v}:{k.strip()}": int(n) for k, n in (line.rsplit(":", 1) for line in stats.splitlines() if ":" in line)
                if n.strip().isdigit() and k.strip().rsplit(".", 1)[-1] in ("ok", "error", "failure_mode_allowed",
                                                                            "over_limit")})
        results["latency"]["timeout_ms"] = json.loads(config.read_text())["rate_limits"]["timeout_ms"]
        results["latency"]["unavailable_503"] = {v: UNAVAILABLE.get(envoys[v].port, 0) for v in VARIANTS}
        for e in envoys.values():
            e.stop()
        log("where the time goes: one check at a time against the service")
        results["check_alone"] = {
            "no_limits": rls_load(service.grpc, 3, 1, team="nobody"),
            "rate_check": rls_load(service.grpc, 3, 1),
            "budget_check": rls_load(service.grpc, 3, 1, budget=True),
            "redis_get": redis_round_trip(redis),
        }
        service.stop()
        log("service throughput (a service on core 1, the load generator and Redis on core 0)")
        subprocess.run(["taskset", "-p", "-c", "0", str(redis.proc.pid)], check=True, capture_output=True)
        pinned = start_service(config, redis, "service-pinned", pin="1")
        results["throughput_rate_check"] = rls_load(pinned.grpc, args.seconds, 32, pin="0")
        results["throughput_budget_check"] = rls_load(pinned.grpc, args.seconds, 32, budget=True, pin="0")
    finally:
        for e in envoys.values():
            e.stop()
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        service.stop()
        if pinned:
            pinned.stop()
        redis.stop()
    results["machine"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(), "loadavg_start": load_start, "loadavg_end": loadavg(),
        "envoy": subprocess.run([args.envoy, "--version"], capture_output=True, text=True).stdout.strip()[-80:],
        "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
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
    for label, key in [("**added p50 latency, 4 KB, limits on − off**", "added_p50_ms"),
                       ("**added p99 latency, 4 KB, limits on − off**", "added_p99_ms"),
                       ("of which the filter's part (descriptors − off), p50", "filter_p50_ms"),
                       ("of which the rate limit filters and service (on − descriptors), p50", "rls_p50_ms"),
                       ("added p50, two admission calls (failure modes budgets open, rates closed) − off",
                        "two_calls_added_p50_ms"),
                       ("added p99, two admission calls − off", "two_calls_added_p99_ms"),
                       ("p50 latency, 4 KB, limits off", "off_p50_ms"), ("p50 latency, 4 KB, limits on", "on_p50_ms"),
                       ("p99 latency, 4 KB, limits off", "off_p99_ms"), ("p99 latency, 4 KB, limits on", "on_p99_ms")]:
        v = lat[key]
        out.append(f"| {label} | {v['median']:.3f} ({v['min']:.3f} … {v['max']:.3f}) | ms |")
    c, r = lat["service_checks_per_limited_request"], lat["redis_commands_per_limited_request"]
    out.append(f"| service checks answered per limited request: one call at admission and one at stream end / "
               f"two and two | {c['on']:.2f} / {c['on_two_calls']:.2f} | checks |")
    out.append(f"| Redis commands per limited request, the Lua scripts' own included (INFO commandstats): one admission call / two | {r['on']:.2f} / "
               f"{r['on_two_calls']:.2f} | commands |")
    late = sum(v for k, v in lat["envoy_ratelimit_stats"].items() if k.endswith((".error", ".failure_mode_allowed")))
    asked = sum(v for k, v in lat["envoy_ratelimit_stats"].items() if k.endswith((".ok", ".error", ".over_limit")))
    u = lat["unavailable_503"]
    out.append(f"| requests refused 503 rate_limit_unavailable (a budget check over timeout_ms), on / two calls | "
               f"{u['on']} / {u['on_two_calls']} of {lat['requests_per_variant_per_round'] * lat['rounds']} each "
               "| requests |")
    out.append(f"| admission checks not answered within timeout_ms = {lat['timeout_ms']} (Envoy's ratelimit "
               f"error stats, whole run) | {late} of {asked} | checks |")
    alone = results["check_alone"]
    for label, key in [("one check alone: a team without limits (the gRPC round trip, no Redis)", "no_limits"),
                       ("one check alone: admission rate check (rpm + tpm_check)", "rate_check"),
                       ("one check alone: admission budget check", "budget_check")]:
        t = alone[key]
        out.append(f"| {label} | p50 {t['p50_us']}, p99 {t['p99_us']}, p99.9 {t.get('p999_us', '-')}, "
                   f"max {t.get('max_us', '-')} ({t['calls']} calls) | µs |")
    r = alone["redis_get"]
    out.append(f"| Redis round trip alone (redis-benchmark GET, 1 connection) | p50 {r['p50_us']:.0f}, "
               f"p99 {r['p99_us']:.0f} | µs |")
    for label, key in [("service checks per second at one core, admission rate check (rpm + tpm_check)",
                        "throughput_rate_check"),
                       ("service checks per second at one core, admission budget check", "throughput_budget_check")]:
        t = results[key]
        errors = f", {t['errors']} errors" if t["errors"] else ""
        out.append(f"| {label} | {t['calls_per_second']:.0f} (p50 {t['p50_us']} µs, p99 {t['p99_us']} µs, "
                   f"32 in flight{errors}) | checks/s |")
    return "\n".join(out)


def write_doc(results: dict, rows: str) -> None:
    m = results["machine"]
    lat = results["latency"]
    section = f"""<!-- ratelimit:begin -->
## Fleet-wide limits (rate limit service and Redis)

Written by `scripts/bench --ratelimit` (`integration/bench/ratelimit.py`, about 4 minutes once
built), run {m['date']} at `{m['commit']}` on {m['cores']} cores, **load average
{m['loadavg_start']:.2f} at start and {m['loadavg_end']:.2f} at end** (other engineers' builds
and tests share this machine; the bench ran at normal priority), {m['envoy']},
{m['seconds']} s in all.

Four gateways rendered by `scripts/render-envoy` from the demo configuration, one Envoy worker
each, in front of one mock provider: **off** without `rate_limits`; **descriptors** with them
but rendered `--without-ratelimit` (the filter's part only: the prompt's heuristic token count,
the worst-case cost, the descriptor headers); **on** as shipped (one admission call to
`services/ratelimit` per request, its budget and rate checks together, and one at stream end
charging its cost and tokens; counters in a local `redis-server`); **on, two calls** the same with the failure
modes reversed (budgets open, rates closed), for which `render-envoy` keeps two calls at
admission and two at stream end. Team-abc's limits are far above the load, so every request is
checked and charged and none is refused. The 4 KB chat request of the main bench, one at a
time on a kept-alive connection, {lat['requests_per_variant_per_round']} per variant per round,
{lat['rounds']} rounds in rotating order; differences are taken per round, then the median
(min … max). "One check alone": `services/ratelimit/examples/rls_load`, one call at a time for
3 s against the same service. Throughput: `rls_load` keeps 32 calls in flight on one HTTP/2
connection for 5 s against a second service started with `taskset -c 1` (its runtime then has
one worker), Redis and the load generator on core 0.

{rows}
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
