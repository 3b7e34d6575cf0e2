"""scripts/run, as the README's quick start uses it: up, the reference snippet streams, the
playground is served and a newcomer checks and runs a prompt in it (Chromium) within a minute,
the demo's fallback chain serves when the first mock provider is told to fail (and the metrics
show it), a saved configuration change is published without a restart, Ctrl-C stops it."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx

from harness import DEMO_CONFIG, GENAICTL, ROOT, free_port, wait_until
from test_reference_snippet import SNIPPET


def newcomer_in_the_browser(url: str, profile) -> dict:
    """integration/node/playground.mjs (Chromium, keyboard only) against a running gateway."""
    proc = subprocess.run(
        ["node", str(ROOT / "integration/node/playground.mjs"),
         json.dumps({"url": url, "key": "team-abc-key-xxxxx", "shots": str(profile / "shots"), "profile": str(profile)})],
        capture_output=True, text=True, timeout=120, cwd=ROOT / "integration/node")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["ok"], result.get("error")
    return result["steps"]


def test_scripts_run_serves_the_demo_and_stops_on_ctrl_c(tmp_path):
    listen, admin, mock, tls, fallback = free_port(), free_port(), free_port(), free_port(), free_port()
    redis, rl, rl_http = free_port(), free_port(), free_port()
    env = dict(os.environ, GENAI_LISTEN=f"127.0.0.1:{listen}", GENAI_ADMIN=f"127.0.0.1:{admin}",
               GENAI_MOCK=f"127.0.0.1:{mock}", GENAI_TLS_LISTEN=f"127.0.0.1:{tls}",
               GENAI_FALLBACK_MOCK=f"127.0.0.1:{fallback}",
               GENAI_REDIS_PORT=str(redis), GENAI_RATELIMIT=f"127.0.0.1:{rl}",
               GENAI_RATELIMIT_HTTP=f"127.0.0.1:{rl_http}")
    config_file = tmp_path / "filter-config.json"
    config_file.write_text(DEMO_CONFIG.read_text())
    env["GENAI_FILTER_CONFIG"] = str(config_file)
    for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY"):
        env.pop(k, None)
    out = (tmp_path / "run.out").open("wb")
    proc = subprocess.Popen([str(ROOT / "scripts/run")], stdout=out, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        wait_until(lambda: "Press Ctrl-C to stop." in (tmp_path / "run.out").read_text(), 300, "scripts/run")
        snippet = SNIPPET.format(url=f"http://127.0.0.1:{listen}")
        got = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60)
        assert got.returncode == 0, got.stderr
        assert '"object":"chat.completion.chunk"' in got.stdout

        [received] = httpx.get(f"http://127.0.0.1:{mock}/__mock/requests").json()
        auth = received["headers"]["authorization"][0]
        assert auth.startswith("Bearer demo-openai-"), "a per-run demo provider key"
        assert "team-abc-key-xxxxx" not in str(received)

        # Redis and the rate limit service run: the team's fleet-wide usage counts that request.
        usage = httpx.get(f"http://127.0.0.1:{listen}/v1/gateway/usage",
                          headers={"authorization": "Bearer team-abc-key-xxxxx"})
        assert usage.status_code == 200, usage.text
        assert usage.json()["requests_per_minute"]["used"] >= 1
        assert usage.json()["spend"]["day"]["budget_dollars"] == 50.0

        # The README's fallback walk-through: the first mock fails, the second (Azure) serves.
        assert httpx.put(f"http://127.0.0.1:{mock}/__mock/controls", json={"x-mock-status": 503}).status_code == 200
        httpx.delete(f"http://127.0.0.1:{mock}/__mock/requests")
        r = httpx.post(f"http://127.0.0.1:{listen}/v1/chat/completions",
                       headers={"authorization": "Bearer team-abc-key-xxxxx"}, timeout=30,
                       json={"model": "default-chat", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "This is a mock reply from the provider. "
        [served] = httpx.get(f"http://127.0.0.1:{fallback}/__mock/requests").json()
        assert served["path"].startswith("/openai/deployments/gpt-4o-prod/chat/completions")
        assert served["headers"]["api-key"][0].startswith("demo-azure-"), "Azure's own per-run demo key"
        assert "authorization" not in served["headers"]
        prom = httpx.get(f"http://127.0.0.1:{admin}/stats/prometheus").text
        assert ('genai_fallbacks_total{team="team-abc",model="gpt-4o",from="gpt-4o",to="azure-gpt-4o",'
                'reason="server_error"} 1') in prom
        assert httpx.delete(f"http://127.0.0.1:{mock}/__mock/controls").status_code == 200

        # The playground, served by Envoy itself.
        page = httpx.get(f"http://127.0.0.1:{listen}/playground")
        assert page.status_code == 200 and "<title>Playground" in page.text
        assert f"http://127.0.0.1:{listen}/playground" in (tmp_path / "run.out").read_text()
        # A newcomer in the browser, on this very gateway: paste the demo key, check a prompt
        # with a card number, run a prompt against two models side by side; within a minute.
        started = time.monotonic()
        shown = newcomer_in_the_browser(f"http://127.0.0.1:{listen}", tmp_path / "chromium-profile")
        took = time.monotonic() - started
        assert "credit_card" in shown["check"]["detections"], shown["check"]
        assert [c["done"] for c in shown["run"]] == ["ok", "ok"], shown["run"]
        assert all(int(c["output"]) > 0 and c["costMicro"] for c in shown["run"]), shown["run"]
        assert took < 60, f"the newcomer's walk took {took:.0f} s"

        # Save a change to the configuration: published, the new key works, same Envoy.
        out = subprocess.run([str(GENAICTL), "mint-key", "team-new"], capture_output=True, text=True, check=True).stdout
        key = re.search(r"^\s+(gk-[0-9a-f]{48})$", out, re.M).group(1)
        entry = json.loads(re.search(r"^\s+(\{.*\})$", out, re.M).group(1))
        models = lambda: httpx.get(f"http://127.0.0.1:{listen}/v1/models", headers={"authorization": f"Bearer {key}"})
        assert models().status_code == 401
        config = json.loads(config_file.read_text())
        config["teams"].append(entry)
        config_file.write_text(json.dumps(config, indent=2))
        wait_until(lambda: models().status_code == 200, 15, "the published configuration")
        wait_until(lambda: "configuration changed: published" in (tmp_path / "run.out").read_text(), 5, "the notice")
        config_file.write_text("{ not json")
        wait_until(lambda: "configuration changed but not published" in (tmp_path / "run.out").read_text(), 5,
                   "the refusal notice")
        assert models().status_code == 200, "a broken file changes nothing"
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
        code = proc.wait(30)
    text = (tmp_path / "run.out").read_text()
    assert code in (0, 130), text[-2000:]
    assert "stopping" in text
    time.sleep(0.5)
    for port in (listen, mock, fallback, rl_http):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            raise AssertionError(f"port {port} still answers after Ctrl-C")
        except httpx.ConnectError:
            pass
