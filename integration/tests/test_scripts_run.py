"""scripts/run, as the README's quick start uses it: up, the reference snippet streams, the
playground is served and a newcomer checks and runs a prompt in it (Chromium) within a minute,
the demo's fallback chain serves when the first mock provider is told to fail (and the metrics
show it), a saved configuration change is published without a restart, Ctrl-C stops it; and
the README's budget walk: a team watches its budget run out into a 429."""
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import openai

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


def start_scripts_run(tmp_path, **extra_env) -> tuple[subprocess.Popen, dict]:
    """scripts/run on free ports (GENAI_* variables), the demo configuration copied into
    tmp_path; returns once it printed its welcome."""
    ports = {name: free_port() for name in ("listen", "admin", "mock", "tls", "fallback", "redis", "rl", "rl_http")}
    env = dict(os.environ, GENAI_LISTEN=f"127.0.0.1:{ports['listen']}", GENAI_ADMIN=f"127.0.0.1:{ports['admin']}",
               GENAI_MOCK=f"127.0.0.1:{ports['mock']}", GENAI_TLS_LISTEN=f"127.0.0.1:{ports['tls']}",
               GENAI_FALLBACK_MOCK=f"127.0.0.1:{ports['fallback']}",
               GENAI_REDIS_PORT=str(ports["redis"]), GENAI_RATELIMIT=f"127.0.0.1:{ports['rl']}",
               GENAI_RATELIMIT_HTTP=f"127.0.0.1:{ports['rl_http']}", **extra_env)
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
    except BaseException:
        stop_scripts_run(proc)
        raise
    return proc, ports


def stop_scripts_run(proc: subprocess.Popen) -> int:
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
    return proc.wait(30)


def test_scripts_run_serves_the_demo_and_stops_on_ctrl_c(tmp_path):
    proc, ports = start_scripts_run(tmp_path)
    listen, admin, mock, fallback, rl_http = (ports[k] for k in ("listen", "admin", "mock", "fallback", "rl_http"))
    config_file = tmp_path / "filter-config.json"
    try:
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
        code = stop_scripts_run(proc)
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


def readme_budget_walk() -> str:
    """The README quick start's budget walk (the Python block between its markers)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- budget-walk:begin -->.*?```python\n(.*?)```.*?<!-- budget-walk:end -->", text, re.S)
    assert block, "README.md has no budget walk between its markers"
    return block.group(1)


def seconds_to_utc_midnight() -> float:
    now = datetime.datetime.now(datetime.timezone.utc)
    midnight = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


def test_scripts_run_shows_a_team_its_budget_run_out(tmp_path):
    """The README's budget walk on a fresh scripts/run (its own run directory, so Redis starts
    from zero): team-xyz ($2 a day) spends through the official OpenAI SDK, 16,000-token
    answers from the mock at $0.16 each; GET /v1/gateway/usage shows each answer's cost the
    moment it is charged; the 13th request could cost more than remains and is refused with
    429 team_budget_exceeded, retry-after until UTC midnight and the runbook, and never
    reaches the provider. Then the README's own lines run as a newcomer pastes them."""
    proc, ports = start_scripts_run(tmp_path, GENAI_RUN_DIR=str(tmp_path / "run"))
    url, mock = f"http://127.0.0.1:{ports['listen']}", f"http://127.0.0.1:{ports['mock']}"
    key = "team-xyz-key-yyyyy"
    runbook = "https://gateway.internal/docs/runbooks/team_budget_exceeded.md"
    try:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)

        def day() -> dict:
            r = httpx.get(f"{url}/v1/gateway/usage", headers={"authorization": f"Bearer {key}"}, timeout=10)
            assert r.status_code == 200, r.text
            return r.json()["spend"]["day"]

        first = day()
        assert first["used_microdollars"] == 0 and first["budget_dollars"] == 2.0, first
        spent, answered, refused = 0, 0, None
        for _ in range(20):
            httpx.delete(f"{mock}/__mock/requests")
            try:
                r = client.chat.completions.create(
                    model="gpt-4o", max_tokens=16000, extra_headers={"x-mock-tokens": "16000"},
                    messages=[{"role": "user", "content": "Hello"}])
            except openai.RateLimitError as e:
                refused = e
                break
            answered += 1
            assert r.usage.completion_tokens == 16000
            # gpt-4o: $2.50 per million prompt tokens, $10 per million completion tokens, in
            # micro-dollars rounded half up (the gateway's pricing).
            cost = int(r.usage.prompt_tokens * 2.5 + r.usage.completion_tokens * 10 + 0.5)
            wait_until(lambda: day()["used_microdollars"] != spent, 5, f"answer {answered}'s charge")
            now = day()["used_microdollars"]
            assert now == spent + cost, (answered, spent, now, cost)
            spent = now
        # $0.16 an answer: 12 answers are $1.92; the 13th's worst case ($0.16) does not fit.
        assert answered == 12, answered
        assert refused is not None, "the budget never ran out"
        e = refused
        assert e.status_code == 429 and e.code == "team_budget_exceeded", e.body
        assert e.body["type"] == "rate_limit_error" and e.body["runbook_url"] == runbook
        assert e.body["message"].endswith(f"(runbook: {runbook})") and "daily budget of $2.00" in e.body["message"]
        assert e.response.headers["x-genai-error-code"] == "team_budget_exceeded"
        assert abs(int(e.response.headers["retry-after"]) - seconds_to_utc_midnight()) <= 5, \
            "retry-after: the seconds until the budget day (a UTC day) ends"
        assert httpx.get(f"{mock}/__mock/requests").json() == [], "the refused request reached the provider"
        assert day()["used_microdollars"] == spent, "a refused request costs nothing"
        assert day()["used_dollars"] == round(spent / 1e6, 6)

        # The README's lines, as pasted: the budget is spent, so the first request is refused.
        got = subprocess.run([sys.executable, "-c", readme_budget_walk().replace("http://127.0.0.1:10000", url)],
                             capture_output=True, text=True, timeout=120)
        assert got.returncode == 0, got.stderr
        assert got.stdout.splitlines()[-1].startswith("request 1: 429 team_budget_exceeded, retry after "), got.stdout
        assert runbook in got.stdout
        assert httpx.get(f"{mock}/__mock/requests").json() == []
    finally:
        stop_scripts_run(proc)
