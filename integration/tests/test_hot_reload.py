"""Configuration changes without a restart: the genai filter delivered by extension config
discovery (ECDS) from a watched file (`render-envoy --ecds`, as scripts/run does), changed with
`genaictl publish`, on Envoy 1.40 and 1.36. A key minted with `genaictl mint-key` works once
published; revoked, it gets 401 while a stream it started finishes; a broken configuration
changes nothing; Envoy never restarts and keeps its VMs."""
from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import threading
import time

import httpx
import pytest

from deployment import OLDEST_ENVOY, oldest_envoy
from harness import (DEMO_CONFIG, GENAICTL, ROOT, TEAM_ABC_KEY, Gateway, access_log_entry, wait_until,
                     without_rate_limits)


class EcdsGateway(Gateway):
    """A gateway rendered with --ecds: the filter's configuration lives in a watched file."""

    def __init__(self, *a, envoy: str | None = None, **kw):
        super().__init__(*a, **kw)
        self.ecds = self.workdir / "genai-ecds.json"
        self.envoy = envoy

    def render(self) -> None:
        # --ecds needs PyYAML: the tests' own interpreter (the project's .venv) has it.
        subprocess.run(
            [sys.executable, str(ROOT / "scripts/render-envoy"), str(self.config_path),
             # No rate limit service here: the configuration's `rate_limits` is left out.
             "--filter-config", str(without_rate_limits(self.filter_config, self.workdir)), "--ecds", str(self.ecds),
             "--listen", f"127.0.0.1:{self.port}", "--admin", f"127.0.0.1:{self.admin_port}",
             "--provider", f"127.0.0.1:{self.mock.port}"],
            check=True,
        )

    def start(self) -> "EcdsGateway":
        if self.envoy:
            import harness

            original = harness.envoy_binary
            harness.envoy_binary = lambda: self.envoy
            try:
                return super().start()
            finally:
                harness.envoy_binary = original
        return super().start()

    def ecds_stat(self, name: str) -> int:
        text = httpx.get(f"{self.admin}/stats", params={"filter": f"extension_config_discovery.http_filter.genai.{name}$"}).text
        return sum(int(l.rsplit(": ", 1)[1]) for l in text.splitlines() if l.rsplit(": ", 1)[1].isdigit())

    def stat(self, name: str) -> int:
        for line in httpx.get(f"{self.admin}/stats", params={"filter": f"^{re.escape(name)}$"}).text.splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        raise AssertionError(f"no stat {name}")

    def publish(self, config: dict, path: pathlib.Path) -> subprocess.CompletedProcess:
        config.pop("rate_limits", None)  # as rendered: no rate limit service in these scenarios
        path.write_text(json.dumps(config, indent=2))
        return subprocess.run([str(GENAICTL), "publish", str(path), "--ecds", str(self.ecds)],
                              capture_output=True, text=True, env=self.env())

    def publish_and_wait(self, config: dict, path: pathlib.Path, timeout: float = 10) -> float:
        before = self.ecds_stat("update_success")
        t0 = time.monotonic()
        done = self.publish(config, path)
        assert done.returncode == 0, done.stderr
        wait_until(lambda: self.ecds_stat("update_success") > before, timeout, "Envoy to apply the new version")
        return time.monotonic() - t0


def chat(gw, key: str, model: str = "gpt-4o", **kw) -> httpx.Response:
    return httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}", **kw.pop("headers", {})},
                      json={"model": model, "messages": [{"role": "user", "content": "hello"}], **kw}, timeout=30)


def mint(team: str) -> tuple[str, str]:
    out = subprocess.run([str(GENAICTL), "mint-key", team], capture_output=True, text=True, check=True).stdout
    key = re.search(r"^\s+(gk-[0-9a-f]{48})$", out, re.M).group(1)
    entry = json.loads(re.search(r"^\s+(\{.*\})$", out, re.M).group(1))
    return key, entry["key_sha256"][0]


def envoy_pid_and_vms(gw) -> tuple[int, int]:
    return gw.proc.pid, gw.stat("wasm.envoy.wasm.runtime.v8.active")


@pytest.fixture(params=["1.40.0", OLDEST_ENVOY])
def ecds_gateway(request, tmp_path):
    envoy = oldest_envoy() if request.param == OLDEST_ENVOY else None
    gw = EcdsGateway(workdir=tmp_path / "gw", envoy=envoy)
    try:
        gw.start()
        yield gw
    finally:
        gw.stop()


def test_mint_add_revoke_while_a_stream_runs(ecds_gateway, tmp_path):
    gw = ecds_gateway
    config_file = tmp_path / "filter-config.json"
    config = json.loads(DEMO_CONFIG.read_text())
    pid, vms = envoy_pid_and_vms(gw)
    key, digest = mint("team-new")
    assert chat(gw, key).status_code == 401, "not configured yet"

    # Add the team: it works within seconds, no restart.
    config["teams"].append({"name": "team-new", "key_sha256": [digest]})
    took = gw.publish_and_wait(config, config_file)
    assert took < 5, took
    gw.mock.clear()
    r = chat(gw, key)
    assert r.status_code == 200, r.text
    assert access_log_entry(gw, r.headers["x-request-id"])["team"] == "team-new"
    assert len(gw.mock.requests()) == 1

    # A stream with that key, started before the revocation, runs to its end after it.
    result: dict = {}

    def stream():
        with httpx.stream("POST", f"{gw.url}/v1/chat/completions",
                          headers={"authorization": f"Bearer {key}", "x-mock-tokens": "12", "x-mock-token-delay-ms": "250"},
                          json={"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "go"}]},
                          timeout=60) as resp:
            result["status"] = resp.status_code
            result["body"] = b"".join(resp.iter_bytes())
            result["ended"] = time.monotonic()

    def slow():  # a plain request, its answer still 1.5 s away when the key is revoked
        resp = httpx.post(f"{gw.url}/v1/chat/completions", timeout=60,
                          headers={"authorization": f"Bearer {key}", "x-mock-ttft-ms": "1500"},
                          json={"model": "gpt-4o", "messages": [{"role": "user", "content": "slow"}]})
        result["slow"] = (resp.status_code, time.monotonic())

    thread = threading.Thread(target=stream)
    thread.start()
    slow_thread = threading.Thread(target=slow)
    slow_thread.start()
    wait_until(lambda: any(r["path"] == "/v1/chat/completions" and '"stream":true' in r["body"].replace(" ", "")
                           for r in gw.mock.requests()), 10, "the stream to reach the provider")
    wait_until(lambda: any('"slow"' in r["body"] for r in gw.mock.requests()), 10, "the slow request to reach it")
    config["teams"] = [t for t in config["teams"] if t["name"] != "team-new"]
    gw.publish_and_wait(config, config_file)
    revoked_at = time.monotonic()
    r = chat(gw, key)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
    assert chat(gw, TEAM_ABC_KEY).status_code == 200, "the other teams are untouched"
    thread.join(60)
    slow_thread.join(60)
    assert result["slow"][0] == 200 and result["slow"][1] > revoked_at, "the request in flight was answered"
    assert result["status"] == 200
    events = [e for e in result["body"].split(b"\n\n") if e.startswith(b"data: {")]
    assert len([e for e in events if re.search(rb'"content":"[^"]+"', e)]) == 12, "every token arrived"
    assert result["body"].rstrip().endswith(b"data: [DONE]"), "the stream ended normally"
    assert result["ended"] > revoked_at, "the stream was still running when the key was revoked"

    # Same Envoy, same VMs: nothing restarted.
    assert gw.proc.poll() is None
    wait_until(lambda: envoy_pid_and_vms(gw) == (pid, vms), 10, "the VM count to settle")
    log = gw.log_text()
    assert log.count("genai filter configured: 3 teams") >= 3, "each VM configured again (main + 2 workers)"


def test_adding_a_model_and_changing_a_limit(ecds_gateway, tmp_path):
    gw = ecds_gateway
    config_file = tmp_path / "filter-config.json"
    config = json.loads(DEMO_CONFIG.read_text())
    assert chat(gw, TEAM_ABC_KEY, model="gpt-4o-fast").status_code == 404
    big = "x" * 3000
    assert chat(gw, TEAM_ABC_KEY, messages=[{"role": "user", "content": big}]).status_code == 200

    config["models"].append({"name": "gpt-4o-fast", "provider": "openai", "upstream_model": "gpt-4o-mini",
                             "tier": "general", "pricing": {"input_per_million": 0.15, "output_per_million": 0.6}})
    config["max_request_body_bytes"] = 2048
    config["teams"][0]["daily_budget_dollars"] = 75
    gw.publish_and_wait(config, config_file)
    gw.mock.clear()
    r = chat(gw, TEAM_ABC_KEY, model="gpt-4o-fast")
    assert r.status_code == 200, r.text
    [received] = gw.mock.requests()
    assert json.loads(received["body"])["model"] == "gpt-4o-mini"
    r = chat(gw, TEAM_ABC_KEY, messages=[{"role": "user", "content": big}])
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert "2048 bytes" in r.json()["error"]["message"]
    assert gw.stat("wasmcustom.genai_team_daily_budget_dollars;team=team-abc") == 75


def test_a_broken_configuration_changes_nothing(ecds_gateway, tmp_path):
    gw = ecds_gateway
    config_file = tmp_path / "filter-config.json"
    config = json.loads(DEMO_CONFIG.read_text())
    key, digest = mint("team-late")

    # 1. genaictl refuses what the filter would refuse, with its message, and writes nothing.
    before = gw.ecds.read_bytes()
    broken = json.loads(json.dumps(config))
    broken["teams"].append({"name": "team-late", "key_sha256": [key]})  # the key, not its hash
    done = gw.publish(broken, config_file)
    assert done.returncode == 1
    assert "invalid configuration field `teams[2].key_sha256[0]`: must be 64 hex digits" in done.stderr
    assert key not in done.stderr, "a key pasted as a hash is never echoed"
    assert gw.ecds.read_bytes() == before

    # A provider Envoy has no route (or key variable) for needs a restart: refused too.
    extra = json.loads(json.dumps(config))
    extra["providers"].append({"name": "mistral", "kind": "openai", "api_key_env": "OPENAI_API_KEY"})
    done = gw.publish(extra, config_file)
    assert done.returncode == 1 and "`mistral` has no Envoy route" in done.stderr, done.stderr
    assert gw.ecds.read_bytes() == before

    # So does a new fallback chain, or new timeouts: their routes are rendered at startup.
    for change in ({"fallbacks": ["azure-gpt-4o"]}, {"timeouts": {"first_byte_ms": 5000}}):
        chained = json.loads(json.dumps(config))
        next(m for m in chained["models"] if m["name"] == "gpt-4o-mini").update(change)
        done = gw.publish(chained, config_file)
        assert done.returncode == 1, done.stdout
        assert "route `model:gpt-4o-mini" in done.stderr and "not in Envoy's routes as rendered" in done.stderr, \
            done.stderr
        assert gw.ecds.read_bytes() == before

    # 2. Written into the watched file directly, bypassing genaictl: Envoy refuses it with the
    #    filter's own message, and the previous configuration keeps serving.
    fails = gw.ecds_stat("config_fail")
    doc = json.loads(before)
    bad = json.loads(json.dumps(config))
    bad["teams"] = []
    doc["version_info"] = "99"
    doc["resources"][0]["typed_config"]["config"]["configuration"]["value"] = json.dumps(bad)
    tmp = gw.ecds.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(gw.ecds)
    wait_until(lambda: gw.ecds_stat("config_fail") > fails, 10, "Envoy to refuse the update")
    wait_until(lambda: "genai filter: invalid configuration field `teams`: at least one team is required" in gw.log_text(),
               5, "the filter's message in Envoy's log")
    assert "update rejected" in gw.log_text()
    assert chat(gw, TEAM_ABC_KEY).status_code == 200
    version = httpx.get(f"{gw.admin}/stats", params={"filter": "genai.version_text"}).text
    assert '"1"' in version, version

    # 3. A file Envoy cannot even parse: refused as well.
    failures = gw.ecds_stat("update_failure")
    tmp.write_text("{not json")
    tmp.replace(gw.ecds)
    wait_until(lambda: gw.ecds_stat("update_failure") > failures, 10, "Envoy to refuse the file")
    assert chat(gw, TEAM_ABC_KEY).status_code == 200
    assert chat(gw, key).status_code == 401

    # 4. And the next good version applies, from the last good file.
    attempts = gw.ecds_stat("update_attempt")
    tmp.write_text(before.decode())
    tmp.replace(gw.ecds)
    wait_until(lambda: gw.ecds_stat("update_attempt") > attempts, 10, "Envoy to read the restored file")
    config["teams"].append({"name": "team-late", "key_sha256": [digest]})
    gw.publish_and_wait(config, config_file)
    assert chat(gw, key).status_code == 200


def test_started_with_a_refused_configuration_serves_nothing_until_a_good_one(tmp_path):
    config = json.loads(DEMO_CONFIG.read_text())
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**config, "teams": []}))
    gw = EcdsGateway(workdir=tmp_path / "gw", filter_config=broken)
    try:
        gw.start()
        assert "genai filter: invalid configuration field `teams`: at least one team is required" in gw.log_text()
        r = chat(gw, TEAM_ABC_KEY)
        assert r.status_code == 500 and r.json()["error"]["code"] == "gateway_internal_error", r.text
        assert "no valid configuration" in r.json()["error"]["message"]
        r = httpx.post(f"{gw.url}/v1/messages", headers={"x-api-key": TEAM_ABC_KEY}, timeout=30,
                       json={"model": "claude-sonnet", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 500 and r.json()["error"]["details"] == {"error_code": "gateway_internal_error"}
        assert gw.mock.requests() == []
        # No VM survived the refusal, so this version compiles the module anew (seconds of
        # Envoy's main thread), unlike an update, which reuses the VMs.
        gw.publish_and_wait(config, tmp_path / "filter-config.json", timeout=90)
        wait_until(lambda: chat(gw, TEAM_ABC_KEY).status_code == 200, 30, "the workers to serve the good version")
    finally:
        gw.stop()
