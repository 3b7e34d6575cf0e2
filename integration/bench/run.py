#!/usr/bin/env python3
"""The benchmark harness behind scripts/bench: what the genai filter costs Envoy.

Three Envoys on loopback, each in front of the same mock provider (`--no-record`):
  A  bare Envoy: the same listener, routes and clusters, no wasm filter;
  B  Envoy with an empty Rust wasm filter (integration/bench/empty-filter): the VM's own cost;
  C  Envoy with the genai filter and the demo configuration (guardrails on).
Their configurations are made at run time from scripts/render-envoy's output. The workloads
run interleaved, A B C A B C ..., so that drift on a shared machine hits all three alike; each
figure is the median over the rounds, with min and max.

Writes target/bench/results.json (one flat object: figure name -> number) and prints a table;
with --doc, rewrites docs/benchmarks.md. Never fails on timing; fails on a broken setup (a
response that is not 200).
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "target/bench"
# GENAI_BENCH_WASM_C: another build of the filter as C (say, a saved module from before a change).
WASM_C = pathlib.Path(os.environ.get("GENAI_BENCH_WASM_C") or ROOT / "target/wasm32-wasip1/release/genai_filter.wasm")
WASM_B = ROOT / "target/wasm32-wasip1/release/empty_filter.wasm"
WASM_NOTOK = OUT / "notok-target/wasm32-wasip1/release/genai_filter.wasm"
MOCK_BIN = ROOT / "target/release/mock-provider"
V8_WASM = ROOT / "target/v8-bench/wasm32-wasip1/release/v8-bench.wasm"
V8_NATIVE = ROOT / "target/v8-bench/release/v8-bench"
DEMO_CONFIG = ROOT / "envoy/demo/filter-config.json"
TEAM_KEY = "team-abc-key-xxxxx"
VARIANTS = ["A", "B", "C"]
VARIANT_NAMES = {
    "A": "bare Envoy (no wasm filter)",
    "B": "Envoy + empty wasm filter",
    "C": "Envoy + genai filter, demo config",
    "D": "mock provider directly (no proxy)",
    "L": "LiteLLM proxy",
}

# The prompt text: an ordinary business request, free of anything the guardrails act on
# (PII, codenames, injection phrases), so the forwarding path is measured, not a refusal.
# The same text as filter/policy/benches/inspect.rs and the v8-bench.
PARAGRAPH = ("The quarter closed with revenue up twelve percent year on year, driven by "
             "subscriptions in the enterprise segment and a steady recovery in hardware sales. Operating "
             "margin improved as the data centre migration finished ahead of plan; the board asks for a "
             "summary of risks, the outlook for the next two quarters and the three decisions to take. ")


def chat_body(size: int, stream: bool = False, model: str = "default-chat") -> bytes:
    head = ('{"model":"%s","messages":[{"role":"system","content":"You are a careful financial analyst."},'
            '{"role":"user","content":"' % model)
    tail = '"}],"temperature":0.2' + (',"stream":true' if stream else "") + "}"
    room = max(0, size - len(head) - len(tail))
    text = (PARAGRAPH * (room // len(PARAGRAPH) + 1))[:room]
    return (head + text + tail).encode()


STREAM_TOKENS = 500
# Workload name -> body, extra headers, whether the response is a stream.
WORKLOADS = {
    "4k": dict(body=chat_body(4096), headers={}, stream=False, label="4 KB chat request"),
    "400k": dict(body=chat_body(400 * 1024), headers={}, stream=False, label="400 KB chat request (~100k tokens)"),
    # Each of the 500 tokens in its own write, 1 ms apart, so that every SSE event reaches
    # Envoy (and the filter) as its own chunk: the per-chunk cost is not hidden by batching.
    "stream": dict(body=chat_body(1024, stream=True),
                   headers={"x-mock-tokens": str(STREAM_TOKENS), "x-mock-token-delay-ms": "1"},
                   stream=True, label=f"streamed response, {STREAM_TOKENS} chunks"),
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout: float, what: str, proc: subprocess.Popen | None = None, logfile=None) -> float:
    """Polls `pred` every 5 ms; returns the time it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc is not None and proc.poll() is not None:
            tail = pathlib.Path(logfile).read_text(errors="replace")[-3000:] if logfile else ""
            raise SystemExit(f"bench: {what} exited with {proc.returncode}\n{tail}")
        try:
            if pred():
                return time.monotonic() - start
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.005)
    raise SystemExit(f"bench: timed out waiting for {what}")


def proc_cpu_ns(pid: int) -> int:
    """CPU time of a whole process (all its threads), in ns, from /proc."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    if total:
        return total
    with open(f"/proc/{pid}/stat") as f:  # fallback: clock ticks
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def loadavg() -> float:
    return float(pathlib.Path("/proc/loadavg").read_text().split()[0])


# ---------------------------------------------------------------- processes


class Mock:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = OUT / "mock-provider.log"
        self.proc = subprocess.Popen([str(MOCK_BIN), "--listen", f"127.0.0.1:{self.port}", "--no-record"],
                                     stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        wait_until(lambda: httpx.get(f"{self.url}/__mock/health").status_code == 200, 15, "the mock provider",
                   self.proc, self.log)

    def stop(self):
        stop(self.proc)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def provider_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    for provider in json.loads(DEMO_CONFIG.read_text()).get("providers", []):
        env[provider["api_key_env"]] = "bench-" + provider["name"]
    return env


def render_base(mock: Mock) -> dict:
    """scripts/render-envoy's configuration for the demo filter config, as a dict."""
    # Without the fleet-wide rate limits: they need the rate limit service and Redis.
    config = json.loads(DEMO_CONFIG.read_text())
    config.pop("rate_limits", None)
    with tempfile.NamedTemporaryFile("r", suffix=".yaml") as f, \
            tempfile.NamedTemporaryFile("w", suffix=".json") as c:
        c.write(json.dumps(config))
        c.flush()
        subprocess.run([str(ROOT / "scripts/render-envoy"), f.name, "--filter-config", c.name,
                        "--listen", "127.0.0.1:1", "--admin", "127.0.0.1:2",
                        "--provider", f"127.0.0.1:{mock.port}"], check=True)
        return yaml.safe_load(pathlib.Path(f.name).read_text())


def hcm_of(cfg: dict) -> dict:
    for listener in cfg["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for f in chain["filters"]:
                if f["name"] == "envoy.filters.network.http_connection_manager":
                    return f["typed_config"]
    raise SystemExit("bench: no http_connection_manager in the rendered configuration")


def variant_config(base: dict, variant: str, port: int, admin_port: int) -> dict:
    """A: no wasm filter; B: the empty module in its place; C: the rendered gateway as it is.
    Without the filter nothing sets `x-genai-upstream`, so A and B route every request to the
    provider's cluster with one catch-all route (same cluster, timeouts and access log)."""
    cfg = copy.deepcopy(base)
    listener = cfg["static_resources"]["listeners"][0]
    listener["address"]["socket_address"].update(address="127.0.0.1", port_value=port)
    cfg["admin"]["address"]["socket_address"].update(address="127.0.0.1", port_value=admin_port)
    hcm = hcm_of(cfg)
    filters = hcm["http_filters"]
    wasm_i = next(i for i, f in enumerate(filters)
                  if f["name"] in ("genai", "envoy.filters.http.wasm")
                  and "wasm" in f.get("typed_config", {}).get("@type", "").lower())
    if variant in ("A", "B"):
        # The router's per-attempt filter (fallback chains) is the module too: not in A or B.
        for f in filters:
            f.get("typed_config", {}).pop("upstream_http_filters", None)
    if variant in ("A", "B"):
        vh = hcm["route_config"]["virtual_hosts"][0]
        openai = next(r for r in vh["routes"] if r.get("route", {}).get("cluster") == "openai")
        catch_all = copy.deepcopy(openai)
        catch_all["match"] = {"prefix": "/"}
        vh["routes"] = [catch_all]
    if variant == "A":
        del filters[wasm_i]
    elif variant == "B":
        wasm = filters[wasm_i]["typed_config"]["config"]
        wasm["name"] = wasm["root_id"] = "empty"
        wasm["vm_config"]["vm_id"] = "empty"
        wasm["vm_config"]["code"]["local"]["filename"] = str(WASM_B)
        wasm["vm_config"].pop("environment_variables", None)
        wasm["configuration"]["value"] = ""
    return cfg


class Envoy:
    def __init__(self, base: dict, variant: str, concurrency: int, tag: str = "", wait: bool = True,
                 config_of=None):
        """`config_of(port, admin_port)`, if given, makes the configuration instead of
        `variant_config` (host_calls.py: the probe module, an edited C)."""
        self.variant = variant
        self.port, self.admin_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin = f"http://127.0.0.1:{self.admin_port}"
        name = f"envoy-{variant}-c{concurrency}{tag}"
        self.config_path = OUT / f"{name}.yaml"
        self.log = OUT / f"{name}.log"
        cfg = (config_of(self.port, self.admin_port) if config_of
               else variant_config(base, variant, self.port, self.admin_port))
        self.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [ENVOY, "-c", str(self.config_path), "--concurrency", str(concurrency), "--log-level", "info",
             "--disable-hot-restart", "--base-id", str(free_port()), "--file-flush-interval-msec", "1000"],
            stdout=subprocess.DEVNULL, stderr=self.log.open("wb"), env=provider_env())
        self.pid = self.proc.pid
        self.ready_s = float("nan")
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        wait_until(lambda: httpx.get(f"{self.admin}/ready", timeout=2).status_code == 200, 120,
                   f"Envoy {self.variant} to be ready", self.proc, self.log)
        self.ready_s = time.monotonic() - self.started

    def cpu_ns(self) -> int:
        return proc_cpu_ns(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def stop(self):
        stop(self.proc)


class LiteLLM:
    """LiteLLM's proxy with the mock provider as its OpenAI backend."""

    def __init__(self, mock: Mock):
        self.venv = OUT / "litellm-venv"
        if not (self.venv / "bin/litellm").exists():
            raise SystemExit("LiteLLM is not installed in target/bench/litellm-venv (scripts/bench installs "
                             "`litellm[proxy]` from PyPI there; see its output for why that failed)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = OUT / "litellm.log"
        cfg = {
            "model_list": [
                {"model_name": "default-chat",
                 "litellm_params": {"model": "openai/gpt-4o", "api_base": f"{mock.url}/v1", "api_key": "x"}},
                # The stream workload's mock controls, which LiteLLM does not pass on from clients.
                {"model_name": "default-chat-stream",
                 "litellm_params": {"model": "openai/gpt-4o", "api_base": f"{mock.url}/v1", "api_key": "x",
                                    "extra_headers": WORKLOADS["stream"]["headers"]}},
                {"model_name": "default-chat-ttft",
                 "litellm_params": {"model": "openai/gpt-4o", "api_base": f"{mock.url}/v1", "api_key": "x",
                                    "extra_headers": {"x-mock-tokens": str(STREAM_TOKENS)}}},
            ],
            "litellm_settings": {"telemetry": False, "drop_params": True},
            "general_settings": {"master_key": LITELLM_KEY},
        }
        path = OUT / "litellm-config.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(LITELLM_TELEMETRY="False", LITELLM_LOG="ERROR", NO_DOCS="True", DISABLE_ADMIN_UI="True",
                   LITELLM_LOCAL_MODEL_COST_MAP="True")
        self.proc = subprocess.Popen(
            [str(self.venv / "bin/litellm"), "--config", str(path), "--host", "127.0.0.1", "--port", str(self.port),
             "--num_workers", "1"],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid
        wait_until(lambda: httpx.get(f"{self.url}/health/liveliness", timeout=2).status_code == 200, 180,
                   "LiteLLM to be ready", self.proc, self.log)

    def cpu_ns(self) -> int:
        # The proxy and any worker processes it started.
        pids = [self.pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True,
                                                             text=True).stdout.split()]
        return sum(proc_cpu_ns(p) for p in pids)

    def stop(self):
        stop(self.proc)


# ---------------------------------------------------------------- load generators


# LiteLLM's proxy refuses to start without a master key; clients present it as their key.
LITELLM_KEY = "sk-bench-" + os.urandom(16).hex()


def request_headers(workload: str, target_kind: str = "C") -> dict:
    key = LITELLM_KEY if target_kind == "L" else TEAM_KEY
    h = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    h.update(WORKLOADS[workload]["headers"])
    return h


def body_for(target_kind: str, workload: str) -> bytes:
    w = WORKLOADS[workload]
    if target_kind == "L" and workload == "stream":
        return w["body"].replace(b'"default-chat"', b'"default-chat-stream"', 1)
    return w["body"]


def body_file(target_kind: str, workload: str) -> pathlib.Path:
    p = OUT / f"body-{workload}-{target_kind}.json"
    p.write_bytes(body_for(target_kind, workload))
    return p


def check_sample(url: str, target_kind: str, workload: str, n: int = 3) -> None:
    """A broken setup fails the bench: every sample must be a 200 (and a complete stream)."""
    for _ in range(n):
        headers = request_headers(workload, target_kind)
        r = httpx.post(f"{url}/v1/chat/completions", content=body_for(target_kind, workload), headers=headers,
                       timeout=60)
        if r.status_code != 200:
            raise SystemExit(f"bench: {VARIANT_NAMES.get(target_kind, target_kind)} answered {r.status_code} "
                             f"to the {workload} workload: {r.text[:500]}")
        if WORKLOADS[workload]["stream"]:
            events = r.text.count("data: ")
            # (LiteLLM re-frames a stream: only ask that it be complete.)
            if "[DONE]" not in r.text or events < (STREAM_TOKENS if target_kind != "L" else 2):
                raise SystemExit(f"bench: incomplete stream from {target_kind}: {events} events")


def wrk_script(target_kind: str, workload: str) -> pathlib.Path:
    body = body_file(target_kind, workload)
    lines = [f'local f = assert(io.open("{body}", "rb"))', "wrk.body = f:read('*a')", "f:close()",
             'wrk.method = "POST"']
    for k, v in request_headers(workload, target_kind).items():
        lines.append(f'wrk.headers["{k}"] = "{v}"')
    p = OUT / f"wrk-{workload}-{target_kind}.lua"
    p.write_text("\n".join(lines) + "\n")
    return p


def run_wrk(url: str, target_kind: str, workload: str, connections: int, seconds: float) -> dict:
    script = wrk_script(target_kind, workload)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                          "-s", str(script), f"{url}/v1/chat/completions"],
                         capture_output=True, text=True, timeout=seconds + 60)
    text = out.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if out.returncode != 0 or not m:
        raise SystemExit(f"bench: wrk failed:\n{out.stdout}\n{out.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    return {"requests": int(m.group(1)), "rps": rps, "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def run_oha(url: str, target_kind: str, workload: str, rate: float, seconds: float, connections: int) -> dict:
    body = body_file(target_kind, workload)
    cmd = [OHA, "--no-tui", "--output-format", "json", "-z", f"{seconds}s", "-q", str(rate), "--latency-correction",
           "-c", str(connections), "-m", "POST", "-D", str(body), "-t", "30s"]
    for k, v in request_headers(workload, target_kind).items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [f"{url}/v1/chat/completions"], capture_output=True, text=True, timeout=seconds + 60)
    try:
        j = json.loads(out.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"bench: oha failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    codes = j.get("statusCodeDistribution", {})
    ok = int(codes.get("200", 0))
    p = j.get("latencyPercentiles", {})
    return {"requests": ok, "non200": sum(int(v) for k, v in codes.items() if k != "200"),
            # Requests still in flight when the duration ends are cut off: not an error.
            "errors": sum(int(v) for k, v in j.get("errorDistribution", {}).items() if "deadline" not in k.lower()),
            "error_kinds": list(j.get("errorDistribution", {})),
            "p50_ms": float(p.get("p50") or "nan") * 1e3, "p99_ms": float(p.get("p99") or "nan") * 1e3,
            # The whole distribution oha reports (percentile -> ms), for the pictures.
            "percentiles_ms": {k: float(v) * 1e3 for k, v in p.items() if v is not None}}


async def _ttft_probe(host: str, port: int, body: bytes, headers: dict, n: int, interval: float) -> list[float]:
    """Streams `n` requests, one at a time on a kept-alive connection, `interval` seconds apart;
    returns for each the time from sending the request to the first byte of its first SSE event."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    req = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}:{port}\r\n{head}content-length: {len(body)}\r\n\r\n"
           ).encode() + body
    reader, writer = await asyncio.open_connection(host, port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = []
    next_at = time.perf_counter()
    for _ in range(n):
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        next_at = time.perf_counter() + interval
        t0 = time.perf_counter_ns()
        writer.write(req)
        status = await reader.readline()
        if b" 200 " not in status:
            raise SystemExit(f"bench: TTFT probe got {status!r}")
        length, chunked = None, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        first = None
        if chunked:
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                data = await reader.readexactly(size + 2)
                if first is None and b"data:" in data:
                    first = time.perf_counter_ns()
                if size == 0:
                    break
        else:
            data = await reader.readexactly(length or 0)
            first = time.perf_counter_ns()
        out.append(((first or time.perf_counter_ns()) - t0) / 1e6)
    writer.close()
    return out


async def _stream_batch(host: str, port: int, req: bytes, total: int, concurrency: int) -> int:
    done = 0

    async def worker(n: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, port)
        for _ in range(n):
            writer.write(req)
            status, tail = b"", b""
            while not tail.endswith(b"\r\n0\r\n\r\n"):
                data = await reader.read(65536)
                if not data:
                    raise SystemExit("bench: a stream ended early")
                status = status or data[:12]
                tail = (tail + data)[-16:]
            if not status.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"bench: a stream answered {status!r}")
            done += 1
        writer.close()

    per = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]
    await asyncio.gather(*(worker(n) for n in per if n))
    return done


def stream_batch(url: str, target_kind: str, total: int, concurrency: int) -> int:
    """`total` complete streams of the stream workload, `concurrency` at a time: every stream
    counted for CPU is complete (none cut off at a phase's end)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    body = body_for(target_kind, "stream")
    head = "".join(f"{k}: {v}\r\n" for k, v in request_headers("stream", target_kind).items())
    req = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}:{port}\r\n{head}content-length: {len(body)}\r\n\r\n"
           ).encode() + body
    return asyncio.run(_stream_batch(host, int(port), req, total, concurrency))


def ttft_probe(url: str, target_kind: str, n: int, interval: float = 0.01, spaced: bool = False) -> list[float]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    headers = {**request_headers("4k", target_kind), "x-mock-tokens": str(STREAM_TOKENS)}
    # (no token delay: the first event leaves at once, and the mock writes the whole stream
    # in a burst that Envoy reads in one go, so the first event reaches the filter in one
    # chunk with all 500: the filter's work on that chunk is in the TTFT.)
    if spaced:
        # Tokens 5 ms apart: the first event comes in a chunk of its own, so the added TTFT
        # is the filter's fixed cost per response, apart from its cost per byte.
        headers.update({"x-mock-tokens": "5", "x-mock-token-delay-ms": "5"})
    body = body_for(target_kind, "stream")
    if target_kind == "L":
        body = chat_body(1024, stream=True, model="default-chat-ttft")
    return asyncio.run(_ttft_probe(host, int(port), body, headers, n, interval))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


# ---------------------------------------------------------------- figures


class Figures:
    def __init__(self):
        self.samples: dict[str, list[float]] = {}
        self.single: dict[str, float] = {}

    def add(self, name: str, value: float) -> None:
        self.samples.setdefault(name, []).append(value)

    def set(self, name: str, value: float) -> None:
        self.single[name] = value

    def med(self, name: str) -> float:
        v = self.samples.get(name)
        return statistics.median(v) if v else self.single.get(name, float("nan"))

    def flat(self) -> dict:
        out = {}
        for name, vs in self.samples.items():
            out[name] = round(statistics.median(vs), 4)
            out[name + "_min"] = round(min(vs), 4)
            out[name + "_max"] = round(max(vs), 4)
        for name, v in self.single.items():
            out[name] = round(v, 4) if isinstance(v, float) else v
        return out


def paired(fig: Figures, name: str, per_round_a: list[float], per_round_c: list[float], kind: str) -> None:
    """C−A (or C/A) per round, then the median over rounds with min and max."""
    for a, c in zip(per_round_a, per_round_c):
        fig.add(name, (c - a) if kind == "diff" else (c / a if a else float("nan")))


def warm_up(fig: Figures, envoys: dict, seconds: float) -> None:
    """Load each variant before measuring it: V8 compiles hot wasm functions again, optimised,
    in the background after the first calls (tier-up); that CPU belongs to startup, not to
    requests. Then each Envoy's idle CPU, for the record."""
    log("warm-up")
    for v in VARIANTS:
        run_wrk(envoys[v].url, v, "4k", 8, seconds)
        run_wrk(envoys[v].url, v, "400k", 2, seconds)
        stream_batch(envoys[v].url, v, 8, 8)
    time.sleep(0.5)
    c0 = {v: envoys[v].cpu_ns() for v in VARIANTS}
    time.sleep(2.0)
    for v in VARIANTS:
        fig.set(f"idle_cpu_pct_{v}", (envoys[v].cpu_ns() - c0[v]) / 2e9 * 100)


def cpu_stat() -> list[int]:
    return [int(x) for x in pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def measure_load(fig: Figures, envoys: dict, args) -> dict:
    rounds, seconds = args.rounds, args.seconds
    per = {}  # (metric, workload, variant) -> list over rounds
    rates = {}

    def rec(metric, workload, variant, value):
        per.setdefault((metric, workload, variant), []).append(value)

    for rnd in range(rounds):
        log(f"round {rnd + 1}/{rounds} (load average {loadavg():.1f})")
        for workload in WORKLOADS:
            stream = WORKLOADS[workload]["stream"]
            conns = 16 if stream else 8
            # Throughput (closed loop at a fixed concurrency), and CPU per request under it.
            # Streams: see below (a batch of complete streams gives both).
            for v in VARIANTS if not stream else ():
                e = envoys[v]
                c0 = e.cpu_ns()
                w = run_wrk(e.url, v, workload, conns, seconds)
                cpu = e.cpu_ns() - c0
                if w["non2xx"] or w["socket_errors"]:
                    raise SystemExit(f"bench: {v} {workload}: {w['non2xx']} non-2xx responses, "
                                     f"{w['socket_errors']} socket errors under load")
                rec("rps", workload, v, w["rps"])
                rec("cpu_us_sat", workload, v, cpu / 1e3 / max(1, w["requests"]))
            if workload not in rates and not stream:
                # Below saturation: a third of the slowest variant's throughput.
                slowest = min(per[("rps", workload, v)][0] for v in VARIANTS)
                rates[workload] = max(1, min(500, int(slowest * 0.3)))
                log(f"  {workload}: fixed rate {rates[workload]}/s (slowest throughput {slowest:.0f}/s)")
            # Latency at a fixed rate (open loop), and CPU per request at that rate. Streams:
            # CPU over a batch of complete streams (their latency is the TTFT, below).
            for v in VARIANTS:
                e = envoys[v]
                c0 = e.cpu_ns()
                if stream:
                    t0 = time.monotonic()
                    n = stream_batch(e.url, v, args.stream_batch, 8)
                    rec("rps", workload, v, n / (time.monotonic() - t0))
                elif OHA:
                    o = run_oha(e.url, v, workload, rates[workload], seconds, max(4, conns))
                    if o["non200"] or o["errors"]:
                        raise SystemExit(f"bench: {v} {workload}: {o['non200']} non-200 responses, "
                                         f"{o['errors']} errors at a fixed rate: {o['error_kinds']}")
                    rec("p50_ms", workload, v, o["p50_ms"])
                    DIST["latency"].setdefault(workload, {}).setdefault(v, []).append(o["percentiles_ms"])
                    rec("p99_ms", workload, v, o["p99_ms"])
                    n = o["requests"]
                else:  # closed loop, one connection: documented in docs/benchmarks.md
                    w = run_wrk(e.url, v, workload, 1, seconds)
                    n = w["requests"]
                cpu = e.cpu_ns() - c0
                rec("cpu_us", workload, v, cpu / 1e3 / max(1, n))
        # Time to first token: sequential streams without token delay.
        for v in VARIANTS:
            t = ttft_probe(envoys[v].url, v, args.ttft_n)
            DIST["ttft"].setdefault(v, []).extend(t)
            rec("ttft_p50_ms", "stream", v, pct(t, 50))
            rec("ttft_p99_ms", "stream", v, pct(t, 99))
            t = ttft_probe(envoys[v].url, v, max(20, args.ttft_n // 3), spaced=True)
            DIST["ttft_spaced"].setdefault(v, []).extend(t)
            rec("ttft_spaced_p50_ms", "stream", v, pct(t, 50))
            rec("ttft_spaced_p99_ms", "stream", v, pct(t, 99))

    for (metric, workload, v), vals in per.items():
        for x in vals:
            fig.add(f"{workload}_{metric}_{v}", x)
    for workload in WORKLOADS:
        if workload in rates:
            fig.set(f"{workload}_fixed_rate_per_s", float(rates[workload]))
        A = lambda m: per.get((m, workload, "A"), [])  # noqa: E731
        for v in ("B", "C"):
            V = lambda m: per.get((m, workload, v), [])  # noqa: E731
            paired(fig, f"{workload}_cpu_us_added_{v}", A("cpu_us"), V("cpu_us"), "diff")
            paired(fig, f"{workload}_cpu_ratio_{v}_over_A", A("cpu_us"), V("cpu_us"), "ratio")
            paired(fig, f"{workload}_cpu_sat_us_added_{v}", A("cpu_us_sat"), V("cpu_us_sat"), "diff")
            paired(fig, f"{workload}_throughput_ratio_{v}_over_A", A("rps"), V("rps"), "ratio")
            if OHA:
                paired(fig, f"{workload}_p50_ms_added_{v}", A("p50_ms"), V("p50_ms"), "diff")
                paired(fig, f"{workload}_p99_ms_added_{v}", A("p99_ms"), V("p99_ms"), "diff")
        # Issue 10's figures are against the empty VM: C−B and C/B, per round.
        B_ = lambda m: per.get((m, workload, "B"), [])  # noqa: E731
        C_ = lambda m: per.get((m, workload, "C"), [])  # noqa: E731
        paired(fig, f"{workload}_cpu_us_C_minus_B", B_("cpu_us"), C_("cpu_us"), "diff")
        paired(fig, f"{workload}_throughput_ratio_C_over_B", B_("rps"), C_("rps"), "ratio")
        if workload == "stream":
            for b, c in zip(B_("cpu_us"), C_("cpu_us")):
                fig.add("stream_cpu_us_per_chunk_C_minus_B", (c - b) / STREAM_TOKENS)
        if workload == "stream":
            for v in ("B", "C"):
                paired(fig, f"ttft_p50_ms_added_{v}", A("ttft_p50_ms"), V("ttft_p50_ms"), "diff")
                paired(fig, f"ttft_p99_ms_added_{v}", A("ttft_p99_ms"), V("ttft_p99_ms"), "diff")
                paired(fig, f"ttft_spaced_p50_ms_added_{v}", A("ttft_spaced_p50_ms"), V("ttft_spaced_p50_ms"), "diff")
                paired(fig, f"ttft_spaced_p99_ms_added_{v}", A("ttft_spaced_p99_ms"), V("ttft_spaced_p99_ms"), "diff")
                # Per streamed chunk: the added CPU of a whole stream over its events.
                for a, c in zip(A("cpu_us"), V("cpu_us")):
                    fig.add(f"stream_cpu_us_per_chunk_added_{v}", (c - a) / STREAM_TOKENS)
    return rates


def measure_ttft_only(envoys: dict, rounds: int, n: int) -> dict:
    """`--ttft`: only the time to first token, A, B and C interleaved round by round (each round
    a short probe per variant, so a change in the machine's load hits all three alike): with the
    500 tokens in one burst (the filter reads them all in the first chunk) and 5 ms apart (the
    first event alone in its chunk). Plus the callgrind instructions of the burst chunk."""
    fig = Figures()
    per: dict = {}
    pooled: dict = {}
    loads = []
    for rnd in range(rounds):
        loads.append(loadavg())
        log(f"TTFT round {rnd + 1}/{rounds} (load average {loads[-1]:.1f})")
        for v in VARIANTS:
            for kind, t in (("burst", ttft_probe(envoys[v].url, v, n)),
                            ("spaced", ttft_probe(envoys[v].url, v, max(10, n // 2), spaced=True))):
                per.setdefault((kind, v), []).append(pct_pair(t))
                pooled.setdefault((kind, v), []).extend(t)
    for kind in ("burst", "spaced"):
        name = "ttft" if kind == "burst" else "ttft_spaced"
        for v in VARIANTS:
            for q, i in (("p50", 0), ("p99", 1)):
                for x in per[(kind, v)]:
                    fig.add(f"{name}_{q}_ms_{v}", x[i])
        for v in ("B", "C"):
            for q, i in (("p50", 0), ("p99", 1)):
                paired(fig, f"{name}_{q}_ms_added_{v}", [x[i] for x in per[(kind, "A")]],
                       [x[i] for x in per[(kind, v)]], "diff")
    r = fig.flat()
    # Over all the rounds' samples together: a p99 of one round's few samples is mostly noise.
    for kind in ("burst", "spaced"):
        name = "ttft" if kind == "burst" else "ttft_spaced"
        for v in VARIANTS:
            for q in (50, 99):
                r[f"{name}_pooled_p{q}_ms_{v}"] = round(pct(pooled[(kind, v)], q), 4)
        for v in ("B", "C"):
            for q in (50, 99):
                r[f"{name}_pooled_p{q}_ms_added_{v}"] = round(
                    r[f"{name}_pooled_p{q}_ms_{v}"] - r[f"{name}_pooled_p{q}_ms_A"], 4)
    DIST["ttft"] = {v: pooled[("burst", v)] for v in VARIANTS}
    DIST["ttft_spaced"] = {v: pooled[("spaced", v)] for v in VARIANTS}
    r["ttft_rounds"], r["ttft_samples_per_round"] = rounds, n
    r["loadavg_min"], r["loadavg_max"] = min(loads), max(loads)
    prof = callgrind_profile("chunk_burst_500_exchange", 20)
    if prof:
        r["burst_chunk_instructions"] = prof["per_op"]
    return r


def pct_pair(t: list[float]) -> tuple[float, float]:
    return pct(t, 50), pct(t, 99)


def warm(e: Envoy, n: int = 8) -> None:
    """A few 4 KB requests, each on its own connection, so that every worker has served one."""
    for _ in range(n):
        with httpx.Client() as c:
            r = c.post(f"{e.url}/v1/chat/completions", content=WORKLOADS["4k"]["body"],
                       headers=request_headers("4k"), timeout=60)
            if r.status_code != 200:
                raise SystemExit(f"bench: {e.variant} answered {r.status_code}: {r.text[:300]}")
    time.sleep(0.3)


def measure_tokenizer(fig: Figures, e: Envoy) -> None:
    """RSS before and after the first usage estimate, which loads a tokenizer vocabulary: a
    stream without reported usage (`x-mock-usage: omit`) makes the gateway estimate."""
    before = e.rss()
    r = httpx.post(f"{e.url}/v1/chat/completions", content=WORKLOADS["stream"]["body"], timeout=120,
                   headers={**request_headers("4k"), "x-mock-usage": "omit"})
    if r.status_code != 200:
        raise SystemExit(f"bench: the estimate request answered {r.status_code}")
    time.sleep(0.3)
    fig.add("tokenizer_rss_mib_added_C", (e.rss() - before) / 2**20)


def startup_figures(fig: Figures, ready: dict, rss1: dict, rss2: dict) -> None:
    for v in VARIANTS:
        fig.add(f"ready_s_{v}", ready[v])
        fig.add(f"rss_mib_c1_{v}", rss1[v] / 2**20)
        fig.add(f"rss_mib_c2_{v}", rss2[v] / 2**20)
        fig.add(f"rss_mib_per_worker_{v}", (rss2[v] - rss1[v]) / 2**20)
    for v in ("B", "C"):
        fig.add(f"vm_start_ms_{v}", (ready[v] - ready["A"]) * 1e3)
        fig.add(f"rss_mib_per_worker_vm_{v}", ((rss2[v] - rss1[v]) - (rss2["A"] - rss1["A"])) / 2**20)


def measure_startup(fig: Figures, base: dict, main: dict, main_rss: dict, quick: bool, repeats: int) -> None:
    """VM start (time to /ready, C−A and B−A) and memory per worker (RSS with 2 workers − 1).
    Quick: the load Envoys' own start and RSS, and 2-worker Envoys started side by side.
    Full: fresh Envoys, one at a time, 1 then 2 workers, `repeats` times."""
    if quick:
        twos = {}
        try:
            for v in VARIANTS:
                twos[v] = Envoy(base, v, 2, tag="-start", wait=False)
            for v in VARIANTS:
                twos[v].wait_ready()
                warm(twos[v])
            startup_figures(fig, {v: main[v].ready_s for v in VARIANTS}, main_rss,
                            {v: twos[v].rss() for v in VARIANTS})
        finally:
            for e in twos.values():
                e.stop()
        return
    for _ in range(repeats):
        ready, rss1, rss2 = {}, {}, {}
        for v in VARIANTS:
            for conc in (1, 2):
                e = Envoy(base, v, conc, tag="-start")
                try:
                    warm(e)
                    if conc == 1:
                        ready[v], rss1[v] = e.ready_s, e.rss()
                        if v == "C":
                            measure_tokenizer(fig, e)
                    else:
                        rss2[v] = e.rss()
                finally:
                    e.stop()
        startup_figures(fig, ready, rss1, rss2)


def perf_split(fig: Figures, envoys: dict, seconds: float) -> dict:
    """Where Envoy's CPU goes under the 4 KB load, by binary: `perf record -e cpu-clock` (a
    software clock: this machine has no hardware counters) on A and C. The Envoy binary is
    stripped, so this splits Envoy and V8's runtime (in the binary) from the wasm code V8
    generated (anonymous memory, "[unknown]"/JIT) and the kernel."""
    if not shutil.which("perf"):
        return {}
    out = {}
    for v in ("A", "B", "C"):
        e = envoys[v]
        data = OUT / f"perf-{v}.data"
        rec = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-p", str(e.pid), "-o", str(data),
                                "--", "sleep", str(seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c0 = e.cpu_ns()
        w = run_wrk(e.url, v, "4k", 8, seconds)
        cpu_us = (e.cpu_ns() - c0) / 1e3 / max(1, w["requests"])
        rec.wait(seconds + 30)
        rep = subprocess.run(["perf", "report", "-i", str(data), "--sort", "dso", "--stdio"], capture_output=True,
                             text=True).stdout
        shares = {}
        for line in rep.splitlines():
            m = re.match(r"\s*([\d.]+)%\s+(\S.*)$", line)
            if m:
                # "[JIT] tid 15082": one name for the code V8 generated, whatever the thread.
                dso = re.sub(r"^\[JIT\] tid \d+$", "[JIT]", m.group(2).strip())
                shares[dso] = shares.get(dso, 0.0) + float(m.group(1))
        out[v] = {"cpu_us_per_request": cpu_us, "shares": shares}
        for dso, share in shares.items():
            key = re.sub(r"[^a-z0-9]+", "_", dso.lower()).strip("_")
            fig.set(f"perf_4k_{v}_{key}_us", cpu_us * share / 100)
    return out


def measure_peer(fig: Figures, mock: Mock, envoy_a: Envoy, envoy_c: Envoy, args) -> None:
    """The same workloads through LiteLLM, beside the mock called directly (D) and our gateway (C),
    interleaved, at one fixed rate low enough for LiteLLM."""
    try:
        lite = LiteLLM(mock)
    except SystemExit as e:
        fig.set("litellm_error", str(e)[:300])
        log(f"LiteLLM could not start: {e}")
        return
    try:
        targets = {"D": mock.url, "A": envoy_a.url, "C": envoy_c.url, "L": lite.url}
        for kind, url in targets.items():
            for workload in WORKLOADS:
                check_sample(url, kind, workload, n=1)
        rate = args.peer_rate
        per = {}
        rounds = min(args.rounds, 3)
        for rnd in range(rounds):
            log(f"peer round {rnd + 1}/{rounds}")
            for workload in ("4k", "400k"):
                for kind, url in targets.items():
                    o = run_oha(url, kind, workload, rate, min(args.seconds, 3.0), 4)
                    if o["non200"] or o["errors"]:
                        raise SystemExit(f"bench: peer {kind} {workload}: {o['non200']} non-200, {o['errors']} errors: "
                                         f"{o['error_kinds']}")
                    per.setdefault((workload, kind), []).append(o["p50_ms"])
                    per.setdefault((workload + "_p99", kind), []).append(o["p99_ms"])
            c0 = lite.cpu_ns()
            w = run_wrk(lite.url, "L", "4k", 8, min(args.seconds, 3.0))
            fig.add("peer_4k_cpu_us_L", (lite.cpu_ns() - c0) / 1e3 / max(1, w["requests"]))
            fig.add("peer_4k_rps_L", w["rps"])
            for kind, url in targets.items():
                t = ttft_probe(url, kind, 40, interval=0.05)
                per.setdefault(("ttft", kind), []).append(pct(t, 50))
        for key in ("4k", "400k", "4k_p99", "400k_p99", "ttft"):
            name = f"peer_{key}_p50" if "p99" not in key else f"peer_{key}"
            for d, a_, c, lt in zip(per[(key, "D")], per[(key, "A")], per[(key, "C")], per[(key, "L")]):
                fig.add(f"{name}_ms_added_C", c - d)  # our whole gateway (Envoy + filter)
                fig.add(f"{name}_ms_added_L", lt - d)  # LiteLLM's proxy
                fig.add(f"{name}_ms_added_C_over_A", c - a_)  # the filter in an Envoy already in the path
        fig.set("peer_rate_per_s", float(rate))
        for key in ("4k", "400k", "ttft"):
            c, lt = fig.med(f"peer_{key}_p50_ms_added_C"), fig.med(f"peer_{key}_p50_ms_added_L")
            f = fig.med(f"peer_{key}_p50_ms_added_C_over_A")
            fig.set(f"peer_{key}_p50_added_ratio_L_over_C", lt / c if c > 0 else float("inf"))
            fig.set(f"peer_{key}_p50_added_ratio_L_over_filter", lt / f if f > 0 else float("inf"))
    finally:
        lite.stop()


def module_sizes(fig: Figures) -> None:
    fig.set("module_bytes_C", float(WASM_C.stat().st_size))
    fig.set("module_bytes_B", float(WASM_B.stat().st_size))
    if WASM_NOTOK.exists():
        fig.set("module_bytes_C_without_tokenizer", float(WASM_NOTOK.stat().st_size))


def micro(fig: Figures, quick: bool) -> dict:
    """The v8-bench module under Node (V8) and natively: per-operation CPU time."""
    res = {}
    flag = ["--quick"] if quick else []
    for where, cmd in (("v8", ["node", str(pathlib.Path(__file__).parent / "v8-bench/run.mjs"), str(V8_WASM)]),
                       ("native", [str(V8_NATIVE)])):
        if not pathlib.Path(cmd[-1]).exists():
            log(f"no {cmd[-1]}; skipping the {where} microbenchmarks")
            continue
        out = subprocess.run(cmd + flag, capture_output=True, text=True, timeout=600)
        line = next((l for l in out.stdout.splitlines() if l.startswith("{")), None)
        if not line:
            log(f"the {where} microbenchmarks failed: {out.stderr[-1000:]}")
            continue
        j = json.loads(line)
        res[where] = j
        for op, r in j["ops"].items():
            fig.set(f"micro_{where}_{op}_ns", r["ns"])
            if "mb_s" in r:
                fig.set(f"micro_{where}_{op}_mb_s", r["mb_s"])
        if where == "v8":
            m = j["memory"]
            fig.set("micro_v8_tokenizer_linear_memory_mib",
                    (m["after_tokenizer_bytes"] - m["before_tokenizer_bytes"]) / 2**20)
            fig.set("micro_v8_tokenizer_first_estimate_ms", m["tokenizer_first_estimate_ns"] / 1e6)
    return res


def _callgrind_functions(out_file: pathlib.Path) -> tuple[int, dict[str, int]]:
    """(program total, instructions by function, self cost) of one callgrind output."""
    ann = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no", str(out_file)],
                         capture_output=True, text=True)
    by_fn: dict[str, int] = {}
    total, in_table = 0, False
    for line in ann.stdout.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)", line)
        if m and "PROGRAM TOTALS" in line:
            total = int(m.group(1).replace(",", ""))
            continue
        if "file:function" in line:
            in_table = True
            continue
        if not in_table or not m:
            continue
        # "file:function [binary]": the same function appears once per source file inlined into it.
        name = re.sub(r"^[^:]*:", "", m.group(3).split(" [")[0]).strip()[:120]
        by_fn[name] = by_fn.get(name, 0) + int(m.group(1).replace(",", ""))
    return total, by_fn


def callgrind_profile(op: str, n: int) -> dict:
    """Functions by self cost (instructions) for one operation of the native build: repeatable
    whatever else the machine is doing. The setup (configuration, body; run alone with N = 0) is
    subtracted function by function, so the shares are those of the operation itself."""
    if not shutil.which("valgrind") or not V8_NATIVE.exists():
        return {}
    # A chunk's cost alone: only what runs inside `chunk_through` (the setup of each flow, an
    # inspected request, is not counted).
    toggle = ["--toggle-collect=*chunk_through*"] if op.startswith("chunk_") else []
    runs = {}
    for count in (n, 0):
        out_file = OUT / f"callgrind.{op}{'' if count else '.setup'}.out"
        subprocess.run(["valgrind", "--tool=callgrind", *toggle, f"--callgrind-out-file={out_file}", str(V8_NATIVE),
                        "profile", op, str(count)], capture_output=True, timeout=900)
        runs[count] = _callgrind_functions(out_file)
    (total, by_fn), (setup_total, setup_fn) = runs[n], runs[0]
    work = total - setup_total
    if work <= 0 or not by_fn:
        return {}
    diff = {f: c - setup_fn.get(f, 0) for f, c in by_fn.items()}
    rows = sorted(((round(c / work * 100, 3), f) for f, c in diff.items() if c > 0), reverse=True)
    return {"all": rows, "per_op": work // max(1, n)}


# ---------------------------------------------------------------- report


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    ver = subprocess.run([ENVOY, "--version"], capture_output=True, text=True).stdout.strip()
    m = re.search(r"version: \S+/(\d+\.\d+\.\d+)", ver)
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem / 2**20, 1),
            "envoy": m.group(1) if m else ver[:80], "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()}


def fmt(v, digits=2) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "n/a"
    if isinstance(v, float) and abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def mmm(r: dict, name: str, digits=2) -> str:
    if name not in r:
        return "n/a"
    if name + "_min" in r:
        return f"{fmt(r[name], digits)} ({fmt(r[name + '_min'], digits)} … {fmt(r[name + '_max'], digits)})"
    return fmt(r[name], digits)


TABLE = [
    # (label, figure, unit)
    ("CPU per 4 KB request, C−A", "4k_cpu_us_added_C", "µs"),
    ("CPU per 4 KB request, B−A (the VM alone)", "4k_cpu_us_added_B", "µs"),
    ("CPU per 4 KB request, C/A", "4k_cpu_ratio_C_over_A", "×"),
    ("CPU per 4 KB request, C−B (the filter beyond the empty VM)", "4k_cpu_us_C_minus_B", "µs"),
    ("CPU per streamed chunk, C−B", "stream_cpu_us_per_chunk_C_minus_B", "µs"),
    ("throughput at 4 KB, C/B", "4k_throughput_ratio_C_over_B", "×"),
    ("CPU per 400 KB request, C−A", "400k_cpu_us_added_C", "µs"),
    ("CPU per streamed request (500 chunks), C−A", "stream_cpu_us_added_C", "µs"),
    ("CPU per streamed chunk, C−A", "stream_cpu_us_per_chunk_added_C", "µs"),
    ("CPU per streamed chunk, B−A", "stream_cpu_us_per_chunk_added_B", "µs"),
    ("throughput at 4 KB, C/A (8 connections)", "4k_throughput_ratio_C_over_A", "×"),
    ("throughput at 4 KB, B/A", "4k_throughput_ratio_B_over_A", "×"),
    ("throughput at 400 KB, C/A", "400k_throughput_ratio_C_over_A", "×"),
    ("added p50 latency, 4 KB, C−A", "4k_p50_ms_added_C", "ms"),
    ("added p99 latency, 4 KB, C−A", "4k_p99_ms_added_C", "ms"),
    ("added p50 latency, 400 KB, C−A", "400k_p50_ms_added_C", "ms"),
    ("added p99 latency, 400 KB, C−A", "400k_p99_ms_added_C", "ms"),
    ("added TTFT p50, C−A", "ttft_p50_ms_added_C", "ms"),
    ("added TTFT p99, C−A", "ttft_p99_ms_added_C", "ms"),
    ("added TTFT p99, B−A", "ttft_p99_ms_added_B", "ms"),
    ("added TTFT p50, C−A, tokens 5 ms apart (first event alone in its chunk)", "ttft_spaced_p50_ms_added_C", "ms"),
    ("added TTFT p99, C−A, tokens 5 ms apart", "ttft_spaced_p99_ms_added_C", "ms"),
    ("added TTFT p99, B−A, tokens 5 ms apart", "ttft_spaced_p99_ms_added_B", "ms"),
    ("module size (genai_filter.wasm)", "module_mib_C", "MiB"),
    ("module size without the tokenizer", "module_mib_C_without_tokenizer", "MiB"),
    ("VM start (readiness C−A)", "vm_start_ms_C", "ms"),
    ("VM start, empty module (B−A)", "vm_start_ms_B", "ms"),
    ("RSS per worker, C (2 workers − 1)", "rss_mib_per_worker_C", "MiB"),
    ("RSS per worker, B", "rss_mib_per_worker_B", "MiB"),
    ("RSS per worker, A (no VM)", "rss_mib_per_worker_A", "MiB"),
    ("RSS per worker VM, C (C − A per worker)", "rss_mib_per_worker_vm_C", "MiB"),
    ("RSS added by a forced estimate, the tokenizer already loaded at VM start (C)", "tokenizer_rss_mib_added_C", "MiB"),
    ("LiteLLM: added p50, 4 KB (vs mock direct)", "peer_4k_p50_ms_added_L", "ms"),
    ("ours: added p50, 4 KB (Envoy + filter vs mock direct)", "peer_4k_p50_ms_added_C", "ms"),
    ("ours: added p50, 4 KB, filter only (C−A at the peer's rate)", "peer_4k_p50_ms_added_C_over_A", "ms"),
    ("LiteLLM added p50 / ours (Envoy + filter), 4 KB", "peer_4k_p50_added_ratio_L_over_C", "×"),
    ("LiteLLM added p50 / ours (filter only), 4 KB", "peer_4k_p50_added_ratio_L_over_filter", "×"),
    ("LiteLLM: added p50, 400 KB", "peer_400k_p50_ms_added_L", "ms"),
    ("ours: added p50, 400 KB", "peer_400k_p50_ms_added_C", "ms"),
    ("LiteLLM: added TTFT p50", "peer_ttft_p50_ms_added_L", "ms"),
    ("ours: added TTFT p50", "peer_ttft_p50_ms_added_C", "ms"),
    ("LiteLLM: CPU per 4 KB request (whole proxy)", "peer_4k_cpu_us_L", "µs"),
]


def table(r: dict) -> str:
    rows = ["| figure | median (min … max) | unit |", "| --- | --- | --- |"]
    for label, name, unit in TABLE:
        if name in r:
            rows.append(f"| {label} | {mmm(r, name)} | {unit} |")
    return "\n".join(rows)


def targets(r: dict) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for each of the issue's targets."""
    out = []

    def check(label, name, limit, unit, lower_is_better=True, scale=1.0):
        v = r.get(name)
        if v is None or v != v:
            out.append((label, "not measured", "—"))
            return
        v *= scale
        ok = v <= limit if lower_is_better else v >= limit
        if ok:
            verdict = "met"
        elif lower_is_better:
            verdict = f"missed: {v / limit:.1f}× the target (+{v - limit:.3g} {unit})" if limit > 0 else "missed"
        else:
            verdict = f"missed: {v / limit:.2f} of the target ({v - limit:+.3g})"
        out.append((label, f"{fmt(v)} {unit}", verdict))

    # Issue 10 (the filter's cost inside Envoy), against the empty VM (B) of the same run.
    check("issue 10: CPU per 4 KB request, C−B ≤ 15 µs", "4k_cpu_us_C_minus_B", 15, "µs")
    check("issue 10: CPU per streamed chunk, C−B ≤ 1.5 µs", "stream_cpu_us_per_chunk_C_minus_B", 1.5, "µs")
    check("issue 10: added TTFT p50, C−A ≤ 0.15 ms (500 tokens in one burst)", "ttft_p50_ms_added_C", 0.15, "ms")
    check("issue 10: added TTFT p99, C−A ≤ 0.3 ms (burst)", "ttft_p99_ms_added_C", 0.3, "ms")
    check("issue 10: added TTFT p50, C−A ≤ 0.15 ms (tokens 5 ms apart)", "ttft_spaced_p50_ms_added_C", 0.15, "ms")
    check("issue 10: added TTFT p99, C−A ≤ 0.3 ms (tokens 5 ms apart)", "ttft_spaced_p99_ms_added_C", 0.3, "ms")
    check("issue 10: throughput at 4 KB, C/B ≥ 0.9", "4k_throughput_ratio_C_over_B", 0.9, "×", lower_is_better=False)
    # Issue 9 (the inspection engine).
    check("issue 9: inspection of a 4 KB chat request in V8 ≤ 15 µs", "micro_v8_inspect_4k_ns", 15, "µs",
          scale=1e-3)
    check("issue 9: CPU per 4 KB request, C−B ≤ 30 µs (with issue 10)", "4k_cpu_us_C_minus_B", 30, "µs")
    check("issue 9: 400 KB prompt inspected at ≥ 300 MB/s in V8", "micro_v8_inspect_400k_mb_s", 300, "MB/s",
          lower_is_better=False)
    check("issue 9: 400 KB prompt, added p50 latency ≤ 2 ms", "400k_p50_ms_added_C", 2, "ms")
    # Issue 5 (the benchmark harness's first targets), against bare Envoy (A).
    check("issue 5: added CPU per 4 KB request ≤ 30 µs (C−A)", "4k_cpu_us_added_C", 30, "µs")
    check("issue 5: throughput C/A ≥ 0.9 at 4 KB", "4k_throughput_ratio_C_over_A", 0.9, "×", lower_is_better=False)
    check("issue 5: 400 KB request inspected in ≤ 3 ms added latency (p50)", "400k_p50_ms_added_C", 3, "ms")
    check("issue 5: added p99 latency ≤ 0.2 ms at 4 KB", "4k_p99_ms_added_C", 0.2, "ms")
    check("issue 5: ≤ 3 µs CPU per streamed chunk (C−A)", "stream_cpu_us_per_chunk_added_C", 3, "µs")
    check("issue 5: module ≤ 1.5 MiB without the tokenizer vocabulary", "module_mib_C_without_tokenizer", 1.5, "MiB")
    check("issue 5: ≤ 8 MiB RSS per worker VM (set before the tokenizer loaded at VM start; measured with it)", "rss_mib_per_worker_C", 8, "MiB")
    check("issue 5: LiteLLM's added p50 ≥ 50× ours (4 KB), ours = Envoy + filter vs calling the provider directly",
          "peer_4k_p50_added_ratio_L_over_C", 50, "×", lower_is_better=False)
    check("issue 5: LiteLLM's added p50 ≥ 50× ours (4 KB), ours = the filter in an Envoy already in the path (C−A)",
          "peer_4k_p50_added_ratio_L_over_filter", 50, "×", lower_is_better=False)
    return out


def main() -> None:
    global ENVOY, OHA
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short run (under 2 minutes)")
    p.add_argument("--peer", choices=["litellm"], help="also run the workloads through LiteLLM's proxy")
    p.add_argument("--doc", action="store_true", help="rewrite docs/benchmarks.md with this run")
    p.add_argument("--pictures", action="store_true",
                   help="draw this run's pictures into docs/images (--doc does too): perf and callgrind included")
    p.add_argument("--envoy", required=True)
    p.add_argument("--oha", default=shutil.which("oha") or "")
    p.add_argument("--concurrency", type=int, default=1, help="Envoy workers for the load runs")
    p.add_argument("--micro", action="store_true", help="with --quick: run the V8/native microbenchmarks too")
    p.add_argument("--ttft", action="store_true",
                   help="only the added time to first token (A, B, C interleaved) and the burst chunk's instructions")
    p.add_argument("--doc-only", action="store_true",
                   help="rewrite docs/benchmarks.md from the last full run's saved figures, measuring nothing")
    a = p.parse_args()
    ENVOY, OHA = a.envoy, a.oha
    if a.doc_only:
        r = json.loads((OUT / "results.json").read_text())
        inputs = json.loads((OUT / "report-inputs.json").read_text())
        dist_file = OUT / "distributions.json"
        dist = json.loads(dist_file.read_text()) if dist_file.exists() else {}
        write_doc(r, inputs, draw_pictures(r, inputs, dist))
        return
    if a.quick:
        a.rounds, a.seconds, a.ttft_n, a.startup_repeats, a.peer_rate, a.stream_batch = 2, 1.0, 50, 1, 5, 16
    else:
        a.rounds, a.seconds, a.ttft_n, a.startup_repeats, a.peer_rate, a.stream_batch = 4, 4.0, 300, 3, 5, 48
    OUT.mkdir(parents=True, exist_ok=True)
    for path in (WASM_C, WASM_B, MOCK_BIN):
        if not path.exists():
            raise SystemExit(f"bench: {path} is missing (scripts/bench builds it)")
    started = time.monotonic()
    if a.ttft:
        ttft_only(a, started)
        return
    fig = Figures()
    load_start = loadavg()
    s0 = cpu_stat()
    time.sleep(2.0)
    d0 = [b - a for a, b in zip(s0, cpu_stat())]
    # Before this bench starts anything: how much of the machine other work takes.
    others_busy = round((d0[0] + d0[1] + d0[2]) / (sum(d0[:8]) or 1) * 100, 1)
    stat_start = cpu_stat()
    mock = Mock()
    envoys = {}
    try:
        base = render_base(mock)
        log(f"starting Envoy A, B, C (--concurrency {a.concurrency})")
        for v in VARIANTS:
            envoys[v] = Envoy(base, v, a.concurrency)
        main_rss = {}
        for v in VARIANTS:
            warm(envoys[v])
            main_rss[v] = envoys[v].rss()
            for workload in WORKLOADS:
                check_sample(envoys[v].url, v, workload, n=2 if workload == "4k" else 1)
        log(f"ready after {', '.join(f'{v} {envoys[v].ready_s:.1f} s' for v in VARIANTS)}")
        measure_tokenizer(fig, envoys["C"])
        warm_up(fig, envoys, 1.0 if a.quick else 3.0)
        rates = measure_load(fig, envoys, a)
        perf = perf_split(fig, envoys, a.seconds) if a.doc or a.pictures else {}
        log("startup and memory")
        measure_startup(fig, base, envoys, main_rss, a.quick, a.startup_repeats)
        if a.peer == "litellm":
            log("peer: LiteLLM")
            measure_peer(fig, mock, envoys["A"], envoys["C"], a)
    finally:
        for e in envoys.values():
            e.stop()
        mock.stop()
    module_sizes(fig)
    micro_res = {}
    if not a.quick or a.micro:
        log("microbenchmarks (V8 under Node, and native)")
        micro_res = micro(fig, a.quick)
    r = fig.flat()
    for k in ("module_bytes_C", "module_bytes_C_without_tokenizer", "module_bytes_B"):
        if k in r:
            r[k.replace("bytes", "mib")] = round(r[k] / 2**20, 3)
    r["concurrency"] = a.concurrency
    r["rounds"] = a.rounds
    r["seconds_per_phase"] = a.seconds
    r["open_loop_latency"] = 1 if OHA else 0
    r["loadavg_start"] = load_start
    r["loadavg_end"] = loadavg()
    d = [b - a for a, b in zip(stat_start, cpu_stat())]
    total = sum(d[:8]) or 1
    # user+nice+system over all ticks: how busy the machine was during the run (this bench included)
    r["others_busy_pct_before"] = others_busy
    r["machine_busy_pct"] = round((d[0] + d[1] + d[2]) / total * 100, 1)
    r["machine_steal_pct"] = round(d[7] / total * 100, 1) if len(d) > 7 else 0.0
    r["duration_s"] = round(time.monotonic() - started, 1)
    (OUT / "results.json").write_text(json.dumps(r, indent=1, sort_keys=True) + "\n")
    (OUT / "distributions.json").write_text(json.dumps(DIST, indent=1) + "\n")
    print(table(r))
    print()
    for label, measured, verdict in targets(r):
        print(f"- {label}: {measured} — {verdict}")
    print(f"\nresults: {OUT / 'results.json'} ({r['duration_s']} s)")
    if a.doc or a.pictures:
        log("callgrind profiles")
        # (chunk_burst_500_exchange: the TTFT probe's first chunk, 500 events read in one go.)
        profiles = {op: callgrind_profile(op, n) for op, n in (("inspect_4k", 200), ("inspect_400k", 3),
                                                               ("chunk_openai_exchange", 2000),
                                                               ("chunk_burst_500_exchange", 20))}
        inputs = {"machine": machine(), "micro": micro_res, "profiles": profiles, "rates": rates, "perf": perf}
        (OUT / "report-inputs.json").write_text(json.dumps(inputs, indent=1) + "\n")
        pictures = draw_pictures(r, inputs, DIST)
        if a.doc:
            write_doc(r, inputs, pictures)


def ttft_only(a, started: float) -> None:
    mock = Mock()
    envoys = {}
    try:
        base = render_base(mock)
        log("starting Envoy A, B, C (--ttft)")
        for v in VARIANTS:
            envoys[v] = Envoy(base, v, a.concurrency)
        for v in VARIANTS:
            warm(envoys[v])
            check_sample(envoys[v].url, v, "stream", n=1)
            # V8's tier-up of the hot functions, before anything is timed.
            stream_batch(envoys[v].url, v, 8, 4)
            ttft_probe(envoys[v].url, v, 10)
        r = measure_ttft_only(envoys, 4 if a.quick else 8, 20 if a.quick else 40)
    finally:
        for e in envoys.values():
            e.stop()
        mock.stop()
    r["duration_s"] = round(time.monotonic() - started, 1)
    (OUT / "ttft.json").write_text(json.dumps(r, indent=1, sort_keys=True) + "\n")
    rows = [("added TTFT p50, C−A, 500 tokens in one burst", "ttft_pooled_p50_ms_added_C"),
            ("added TTFT p99, C−A, burst", "ttft_pooled_p99_ms_added_C"),
            ("added TTFT p50, B−A, burst", "ttft_pooled_p50_ms_added_B"),
            ("added TTFT p99, B−A, burst", "ttft_pooled_p99_ms_added_B"),
            ("added TTFT p50, C−A, tokens 5 ms apart", "ttft_spaced_pooled_p50_ms_added_C"),
            ("added TTFT p99, C−A, tokens 5 ms apart", "ttft_spaced_pooled_p99_ms_added_C"),
            ("TTFT p50 / p99, A (bare Envoy), burst", "ttft_pooled_p50_ms_A")]
    print("(p50 and p99 over all rounds' samples pooled; in brackets for p50s: the median of the rounds' "
          "paired differences, with their min and max)")
    for label, key in rows:
        extra = ""
        if key == "ttft_pooled_p50_ms_A":
            extra = f" / {fmt(r['ttft_pooled_p99_ms_A'], 3)}"
        elif "p50" in key:
            extra = f" [{mmm(r, key.replace('pooled_', ''), 3)}]"
        print(f"{label:52} {fmt(r[key], 3)}{extra} ms")
    if "burst_chunk_instructions" in r:
        print(f"{'burst chunk (500 events, 138 KB), callgrind':52} {r['burst_chunk_instructions']:,} instructions")
    print(f"load average {r['loadavg_min']:.1f}-{r['loadavg_max']:.1f}; {r['ttft_rounds']} rounds of "
          f"{r['ttft_samples_per_round']} per variant; {OUT / 'ttft.json'} ({r['duration_s']} s)")


def draw_pictures(r: dict, inputs: dict, dist: dict) -> list[tuple[str, str]]:
    import plots  # integration/bench/plots.py

    pictures = plots.draw_all(ROOT / "docs", r, inputs, dist, plots.load_before(ROOT / plots.BEFORE))
    for rel, _ in pictures:
        log(f"drew docs/{rel}")
    return pictures


def write_doc(r: dict, inputs: dict, pictures: list[tuple[str, str]] | None = None) -> None:
    import report  # integration/bench/report.py

    report.write(ROOT / "docs/benchmarks.md", r, inputs["machine"], table(r), targets(r), inputs["micro"],
                 inputs["profiles"], rates_note=inputs["rates"], perf=inputs["perf"], pictures=pictures)
    log(f"wrote {ROOT / 'docs/benchmarks.md'}")


ENVOY = ""
OHA = ""
# This run's latency distributions, for the pictures: oha's percentiles per round
# (latency[workload][variant] = [{percentile: ms}, ...]) and every TTFT sample (ttft[variant]).
DIST: dict = {"latency": {}, "ttft": {}, "ttft_spaced": {}}

if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    main()
