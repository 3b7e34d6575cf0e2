"""Usage, cost and the platform's metrics, through a real Envoy and a real Prometheus.

The expected figures come from what the provider (the mock) reported to the official SDKs,
so the test checks the gateway's accounting against the provider's, not against itself.
"""
import time

import anthropic
import httpx
import openai
import pytest

from harness import TEAM_ABC_KEY, TEAM_XYZ_KEY, Prometheus, envoy_stats, wait_until

PRICES = {  # from envoy/demo/filter-config.json, in micro-dollars per million tokens
    "gpt-4o": dict(input=2_500_000, cached_input=1_250_000, cache_write=2_500_000, output=10_000_000),
    "claude-sonnet": dict(input=3_000_000, cached_input=300_000, cache_write=3_750_000, output=15_000_000),
}


def cost(model, input, output, cached=0, cache_write=0):
    p = PRICES[model]
    pico = (input - cached - cache_write) * p["input"] + cached * p["cached_input"] \
        + cache_write * p["cache_write"] + output * p["output"]
    return (pico + 500_000) // 1_000_000


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    """A dedicated gateway (fresh counters) with a Prometheus scraping it."""
    from harness import Gateway

    gw = Gateway(workdir=tmp_path_factory.mktemp("metered")).start()
    prom = Prometheus(tmp_path_factory.mktemp("prometheus"), gw)
    yield gw, prom
    prom.stop()
    gw.stop()


def test_usage_cost_and_requests_match_the_provider(metered):
    gw, prom = metered
    oai = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=TEAM_ABC_KEY, max_retries=0)
    msgs = [{"role": "user", "content": "Summarize this quarter's earnings report, please."}]
    expected = {"input": 0, "output": 0, "cost": 0}

    # 1. not streamed: the SDK sees the provider's usage
    r = oai.chat.completions.create(model="default-chat", messages=msgs, extra_headers={"x-mock-tokens": "12"})
    u1 = r.usage
    # 2. streamed, the client asked for usage: it is in the last chunk
    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=msgs, stream=True,
                                              stream_options={"include_usage": True},
                                              extra_headers={"x-mock-tokens": "12"}))
    u2 = chunks[-1].usage
    assert chunks[-1].choices == [] and u2 is not None
    # 3. streamed, the client did not ask: the gateway asks for it and hides the usage chunk
    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=msgs, stream=True,
                                              extra_headers={"x-mock-tokens": "12"}))
    assert chunks and all(c.choices for c in chunks), "the client must not see a usage chunk it did not ask for"
    assert all(c.usage is None for c in chunks)
    # the mock is deterministic: the same prompt and length give the same usage as request 1
    for u in (u1, u2, u1):
        expected["input"] += u.prompt_tokens
        expected["output"] += u.completion_tokens
        expected["cost"] += cost("gpt-4o", u.prompt_tokens, u.completion_tokens)

    # 4, 5. Anthropic, not streamed and streamed, for the other team
    ant = anthropic.Anthropic(base_url=gw.url, api_key=TEAM_XYZ_KEY, max_retries=0)
    m = ant.messages.create(model="claude-sonnet", max_tokens=64, messages=msgs)
    with ant.messages.stream(model="claude-sonnet", max_tokens=64, messages=msgs) as s:
        "".join(s.text_stream)
        m2 = s.get_final_message()
    xyz_in = m.usage.input_tokens + m2.usage.input_tokens
    xyz_out = m.usage.output_tokens + m2.usage.output_tokens
    xyz_cost = cost("claude-sonnet", m.usage.input_tokens, m.usage.output_tokens) + \
        cost("claude-sonnet", m2.usage.input_tokens, m2.usage.output_tokens)

    # 6. refusals and provider errors are counted apart
    assert httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4o"}).status_code == 401
    # (gpt-4o-mini: it has no fallback, so the provider's 429 is the answer)
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="gpt-4o-mini", messages=msgs, extra_headers={"x-mock-status": "429"})

    # Envoy's own counters, read at once (the filter updates them in on_log)
    stats = envoy_stats(gw)
    abc = "team=team-abc;model=gpt-4o;provider=openai"
    assert stats[f"genai_tokens_total;{abc};type=input;estimated=false"] == expected["input"]
    assert stats[f"genai_tokens_total;{abc};type=output;estimated=false"] == expected["output"]
    assert stats["genai_request_cost_microdollars_total;team=team-abc;model=gpt-4o"] == expected["cost"]
    xyz = "team=team-xyz;model=claude-sonnet;provider=anthropic"
    assert stats[f"genai_tokens_total;{xyz};type=input;estimated=false"] == xyz_in
    assert stats[f"genai_tokens_total;{xyz};type=output;estimated=false"] == xyz_out
    assert stats["genai_request_cost_microdollars_total;team=team-xyz;model=claude-sonnet"] == xyz_cost
    assert stats[f"genai_requests_total;{abc};code_class=2xx;origin=provider"] == 3
    assert stats["genai_requests_total;team=team-abc;model=gpt-4o-mini;provider=openai;code_class=4xx;origin=provider"] == 1
    assert stats["genai_requests_total;team=none;model=none;provider=none;code_class=4xx;origin=gateway"] == 1
    assert stats["genai_team_daily_budget_dollars;team=team-abc"] == 50
    assert stats["genai_team_daily_budget_dollars;team=team-xyz"] == 2
    assert not [k for k in stats if "estimated=true" in k], "everything here was reported by the provider"

    # The same figures, live in Prometheus (scraped every second, labels from stats_tags)
    def scraped() -> bool:
        v = prom.value('sum(genai_tokens_total{team="team-abc",model="gpt-4o",type="output"})')
        return v == expected["output"]

    wait_until(scraped, 20, "Prometheus to scrape the gateway's token counters")
    assert prom.value('sum(genai_tokens_total{team="team-abc",type="input"})') == expected["input"]
    assert prom.value('sum(genai_tokens_total{team="team-xyz",type="output"})') == xyz_out
    assert prom.value('sum(genai_request_cost_microdollars_total{team="team-xyz"})') == xyz_cost
    assert prom.value('sum(genai_requests_total{origin="gateway",code_class="4xx"})') == 1
    assert prom.value('genai_team_daily_budget_dollars{team="team-abc"}') == 50
    # the recording rule the reference alert uses: dollars
    wait_until(lambda: prom.value('sum(genai_request_cost_dollars_total{team="team-abc"})') is not None, 10,
               "the dollar recording rule")
    assert prom.value('sum(genai_request_cost_dollars_total{team="team-abc"})') == pytest.approx(expected["cost"] / 1e6)

    # Histograms reach Prometheus at Envoy's stats flush (every 5 s by default).
    def ttft_seen() -> bool:
        return prom.value('sum(genai_time_to_first_token_milliseconds_count{team="team-abc"})') == 4

    wait_until(ttft_seen, 30, "the time-to-first-token histogram")
    assert prom.value('sum(genai_request_cost_microdollars_count{team="team-xyz"})') == 2
    assert prom.value('sum(genai_prompt_tokens_count{team="team-abc"})') == 3


def test_missing_usage_is_estimated_never_zero(metered):
    gw, prom = metered
    oai = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=TEAM_ABC_KEY, max_retries=0)
    before = envoy_stats(gw)
    key = "genai_tokens_total;team=team-abc;model=gpt-4o-mini;provider=openai;type={};estimated=true"

    # a provider that drops usage, and a stream cut off by the provider
    text = "".join(c.choices[0].delta.content or "" for c in oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "count me"}], stream=True,
        extra_headers={"x-mock-usage": "omit", "x-mock-tokens": "30"}) if c.choices)
    assert text
    with pytest.raises(Exception):
        list(oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "count me too"}], stream=True,
            extra_headers={"x-mock-abort-after": "5", "x-mock-tokens": "30"}))
    time.sleep(0.3)
    after = envoy_stats(gw)
    out = after.get(key.format("output"), 0) - before.get(key.format("output"), 0)
    inp = after.get(key.format("input"), 0) - before.get(key.format("input"), 0)
    assert out > 0 and inp > 0, "an interrupted or usage-less stream is estimated, not counted as zero"
    cost_key = "genai_request_cost_microdollars_total;team=team-abc;model=gpt-4o-mini"
    assert after.get(cost_key, 0) >= before.get(cost_key, 0)
    wait_until(lambda: (prom.value('sum(genai_tokens_total{model="gpt-4o-mini",estimated="true"})') or 0) > 0,
               20, "Prometheus to show the estimated tokens")


def test_dashboard_queries_run_against_live_prometheus(metered):
    import json

    from harness import ROOT

    _, prom = metered
    dash = json.loads((ROOT / "envoy/grafana/genai-usage-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        prom.query(expr)  # raises on a query Prometheus rejects
    # and the throughput panel shows data for the team that used the gateway
    assert prom.query('sum by (team) (rate(genai_tokens_total{type=~"input|output"}[5m])) * 60')


def test_promtool_rule_tests_pass():
    import subprocess

    from harness import ROOT

    out = subprocess.run(["promtool", "test", "rules", "genai-rules.test.yml"], cwd=ROOT / "envoy/prometheus",
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout
