"""Fallback across providers, through a real Envoy (1.40 and the oldest supported, 1.36) with
the official SDKs: Envoy retries, the attempt filter makes each attempt right for its target,
and a fallback never carries data to a model whose tier is not approved for it.

Two mock instances stand in for two providers: the first serves `openai` and
`anthropic-private` (the demo chains' first choices), the second `azure`, `self-hosted` and
`anthropic` (their fallbacks). A test tells one instance to fail (`Mock.fail`) and checks what
each received.
"""
from __future__ import annotations

import base64
import concurrent.futures
import json
import time

import anthropic
import httpx
import openai
import pytest

from deployment import oldest_envoy, start_gateway
from harness import DEMO_CONFIG, TEAM_ABC_KEY, access_log_entry, envoy_stats, free_port

SECOND = ["azure", "self-hosted", "anthropic"]
VERSIONS = ["1.40", "1.36"]
CARD = "4111 1111 1111 1111"  # a card number: confidential under the demo's guardrails


def _cut_short() -> tuple[type, ...]:
    """What the SDKs raise for a stream whose connection ends early (the official SDKs are
    built on httpx, or its successor httpx2)."""
    errors: list[type] = [anthropic.APIConnectionError, openai.APIConnectionError, httpx.RemoteProtocolError]
    try:
        import httpx2
        errors.append(httpx2.RemoteProtocolError)
    except ImportError:
        pass
    return tuple(errors)


CUT_SHORT = _cut_short()


def upstream_routes(hcm: dict) -> dict:
    """The routes the filter chooses by `x-genai-upstream`, by that value."""
    out = {}
    for r in hcm["route_config"]["virtual_hosts"][0]["routes"]:
        headers = r["match"].get("headers") or []
        if headers and headers[0]["name"] == "x-genai-upstream":
            out[headers[0]["string_match"]["exact"]] = r
    return out


def start(tmp_path_factory, version: str, name: str, **kw):
    envoy = oldest_envoy() if version == "1.36" else None
    return start_gateway(tmp_path_factory.mktemp(f"{name}-{version}"), envoy=envoy,
                         second_mock_upstreams=SECOND, **kw)


@pytest.fixture(scope="module", params=VERSIONS)
def gw(request, tmp_path_factory):
    g = start(tmp_path_factory, request.param, "fallback")
    g.version = request.param
    yield g
    g.stop()


@pytest.fixture
def fresh(gw):
    """Both mocks answering normally, their records empty."""
    for m in (gw.mock, gw.second_mock):
        m.fail()
        m.clear()
    yield gw
    for m in (gw.mock, gw.second_mock):
        m.fail()


def oai(g, **kw):
    return openai.OpenAI(base_url=f"{g.url}/v1", api_key=TEAM_ABC_KEY, max_retries=0, **kw)


def claude(g, **kw):
    return anthropic.Anthropic(base_url=g.url, api_key=TEAM_ABC_KEY, max_retries=0, **kw)


def stat(g, name: str) -> float:
    return envoy_stats(g).get(name, 0)


FALLBACK_503 = "genai_fallbacks_total;team=team-abc;model=gpt-4o;from=gpt-4o;to=azure-gpt-4o;reason=server_error"


@pytest.mark.parametrize("stream", [False, True])
def test_primary_503_is_served_by_the_fallback_with_its_own_credential_and_model(fresh, stream):
    g = fresh
    g.mock.fail(status=503)
    before = stat(g, FALLBACK_503)
    msgs = [{"role": "user", "content": "Summarize the quarter."}]
    if stream:
        chunks = list(oai(g).chat.completions.create(model="default-chat", messages=msgs, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert all(c.usage is None for c in chunks), "the forced usage chunk stays hidden after a fallback"
    else:
        text = oai(g).chat.completions.create(model="default-chat", messages=msgs).choices[0].message.content
    assert text == "This is a mock reply from the provider. ", "one normal answer"

    [first] = g.mock.requests()
    assert first["headers"]["authorization"] == [f"Bearer {g.provider_keys['OPENAI_API_KEY']}"]
    assert json.loads(first["body"])["model"] == "gpt-4o-2024-08-06"
    [second] = g.second_mock.requests()
    assert second["path"] == "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
    assert second["headers"]["api-key"] == [g.provider_keys["AZURE_OPENAI_API_KEY"]]
    assert "authorization" not in second["headers"], "the OpenAI key never reaches Azure"
    body = json.loads(second["body"])
    assert body["model"] == "gpt-4o-prod"
    assert body["messages"] == msgs
    assert second["headers"]["content-length"] == [str(len(base64.b64decode(second["body_base64"])))]
    assert TEAM_ABC_KEY not in json.dumps([first, second])
    assert stat(g, FALLBACK_503) == before + 1


def test_access_log_and_metrics_name_the_model_that_served(fresh):
    """llama-internal (self-hosted, the second mock) fails; gpt-4o-mini (OpenAI, the first)
    serves: the access log, the metrics and the cost are gpt-4o-mini's."""
    g = fresh
    g.second_mock.fail(status=500)
    mini_cost = "genai_request_cost_microdollars_total;team=team-abc;model=gpt-4o-mini"
    llama_tokens = "genai_tokens_total;team=team-abc;model=llama-internal;provider=self-hosted;type=input;estimated=false"
    before_cost, before_llama = stat(g, mini_cost), stat(g, llama_tokens)
    r = httpx.post(f"{g.url}/v1/chat/completions", headers={"authorization": f"Bearer {TEAM_ABC_KEY}"},
                   json={"model": "llama-internal", "messages": [{"role": "user", "content": "Summarize the quarter."}]},
                   timeout=30)
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]
    entry = access_log_entry(g, r.headers["x-request-id"])
    assert entry["model"] == "gpt-4o-mini" and entry["provider"] == "openai"
    assert entry["requested_model"] == "llama-internal"
    assert entry["fallbacks"] == "llama-internal>gpt-4o-mini:server_error"
    assert entry["attempts"] == 2
    assert entry["status"] == 200
    # Priced at gpt-4o-mini's prices ($0.15 in, $0.60 out per million), not llama-internal's.
    expected = (usage["prompt_tokens"] * 150_000 + usage["completion_tokens"] * 600_000 + 500_000) // 1_000_000
    assert stat(g, mini_cost) == before_cost + expected
    assert stat(g, llama_tokens) == before_llama, "the failed attempt is not charged"
    assert stat(g, "genai_fallbacks_total;team=team-abc;model=llama-internal;from=llama-internal;to=gpt-4o-mini;reason=server_error") >= 1
    prom = httpx.get(f"{g.admin}/stats/prometheus").text
    assert 'genai_fallbacks_total{team="team-abc",model="llama-internal",from="llama-internal",to="gpt-4o-mini",reason="server_error"}' in prom
    assert "envoy_cluster_wasmcustom" not in prom, "the filter's metrics keep their names"


def answer_of(r, stream: bool) -> str:
    """The text of an OpenAI SDK raw response, streamed or not."""
    parsed = r.parse()
    if stream:
        return "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
    return parsed.choices[0].message.content


@pytest.mark.parametrize("stream", [False, True])
def test_429_retry_after_is_waited_out_then_the_fallback_serves(fresh, stream):
    g = fresh
    g.mock.fail(status=429, retry_after="1")
    started = time.monotonic()
    r = oai(g).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=stream)
    assert answer_of(r, stream) == "This is a mock reply from the provider. "
    took = time.monotonic() - started
    assert took >= 0.9, f"Envoy's rate-limited back-off honours retry-after: {took:.2f}s"
    assert len(g.second_mock.requests()) == 1
    entry = access_log_entry(g, r.headers["x-request-id"])
    assert entry["fallbacks"] == "gpt-4o>azure-gpt-4o:rate_limited"
    # A retry-after beyond max_retry_after_ms (2 s by default) is not waited for.
    g.second_mock.clear()
    g.mock.fail(status=429, retry_after="60")
    started = time.monotonic()
    oai(g).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 0.9
    assert len(g.second_mock.requests()) == 1


def test_a_client_error_is_not_retried(fresh):
    """A 4xx other than 429 is the request's fault: the next provider would refuse it too."""
    g = fresh
    g.mock.fail(status=400)
    with pytest.raises(openai.BadRequestError):
        oai(g).chat.completions.create(model="default-chat", messages=[{"role": "user", "content": "hi"}])
    assert len(g.mock.requests()) == 1
    assert g.second_mock.requests() == []


def test_reset_before_the_head_falls_back(fresh):
    g = fresh
    g.mock.fail(reset="head")
    r = claude(g).messages.with_raw_response.create(
        model="claude-sonnet-private", max_tokens=64, messages=[{"role": "user", "content": "hello"}])
    assert r.parse().content[0].text
    [got] = g.second_mock.requests()
    assert got["headers"]["x-api-key"] == [g.provider_keys["ANTHROPIC_API_KEY"]]
    [reset] = g.mock.requests()
    assert reset["headers"]["x-api-key"] == [g.provider_keys["ANTHROPIC_PRIVATE_API_KEY"]]
    assert got["headers"]["anthropic-version"] == reset["headers"]["anthropic-version"], "the client's own version"
    entry = access_log_entry(g, r.headers["x-request-id"])
    assert entry["fallbacks"] == "claude-sonnet-private>claude-sonnet:reset"
    assert entry["model"] == "claude-sonnet"


@pytest.mark.parametrize("stream", [False, True])
def test_a_confidential_prompt_never_reaches_a_general_tier_fallback(fresh, stream):
    """claude-sonnet-private (premium) falls back to claude-sonnet (general): a confidential
    prompt gets the requested model's own failure, and the general-tier provider receives
    nothing. The same for the OpenAI format: llama-internal (self_hosted) -> gpt-4o-mini."""
    g = fresh
    g.mock.fail(status=503)
    skip = "genai_fallbacks_total;team=team-abc;model=claude-sonnet-private;from=claude-sonnet-private;to=claude-sonnet;reason=classification"
    before = stat(g, skip)
    msgs = [{"role": "user", "content": "The Project Bluebird numbers, please."}]
    with pytest.raises(anthropic.InternalServerError) as err:
        if stream:
            with claude(g).messages.stream(model="claude-sonnet-private", max_tokens=64, messages=msgs) as s:
                list(s.text_stream)
        else:
            claude(g).messages.create(model="claude-sonnet-private", max_tokens=64, messages=msgs)
    assert err.value.status_code == 503
    assert "x-mock-status" in str(err.value), "the requested model's own error, passed through"
    assert len(g.mock.requests()) == 1
    assert g.second_mock.requests() == [], "the general-tier provider received nothing"
    assert stat(g, skip) == before + 1

    g.mock.fail()
    g.second_mock.fail(status=503)
    g.mock.clear()
    with pytest.raises(openai.InternalServerError):
        oai(g).chat.completions.create(model="llama-internal", stream=stream,
                                       messages=[{"role": "user", "content": f"Charge card {CARD}"}])
    assert g.mock.requests() == [], "gpt-4o-mini (general) received nothing"
    assert len(g.second_mock.requests()) == 1, "llama-internal's own failure, passed through"


def test_the_same_prompt_without_confidential_data_does_fall_back(fresh):
    g = fresh
    g.mock.fail(status=503)
    reply = claude(g).messages.create(model="claude-sonnet-private", max_tokens=64,
                                      messages=[{"role": "user", "content": "The weather, please."}])
    assert reply.content[0].text
    assert len(g.second_mock.requests()) == 1


def test_a_failure_after_the_first_streamed_byte_is_not_retried(fresh):
    g = fresh
    # The provider's own error event mid-stream: the SDKs raise it; nothing is retried.
    g.mock.fail(error_after="2")
    got = []
    with pytest.raises(openai.APIError) as err:
        for c in oai(g).chat.completions.create(model="default-chat", stream=True,
                                                messages=[{"role": "user", "content": "Stream please"}]):
            got.extend(x.delta.content or "" for x in c.choices)
    assert "x-mock-error-after" in str(err.value)
    assert "".join(got) == "This is ", "the client saw the first tokens, then the provider's error"
    with pytest.raises(anthropic.APIStatusError) as err:
        with claude(g).messages.stream(model="claude-sonnet-private", max_tokens=64,
                                       messages=[{"role": "user", "content": "Stream please"}]) as s:
            list(s.text_stream)
    assert "overloaded_error" in str(err.value.body) or "Overloaded" in str(err.value)
    # The connection dropped mid-stream: the client sees the stream end early.
    g.mock.fail(abort_after="2")
    with pytest.raises(CUT_SHORT):
        for _ in oai(g).chat.completions.create(model="default-chat", stream=True,
                                                messages=[{"role": "user", "content": "Stream please"}]):
            pass
    assert g.second_mock.requests() == [], "no attempt after response bytes reached the client"
    assert len(g.mock.requests()) == 3


def test_every_request_of_an_outage_falls_back(fresh):
    """Envoy limits concurrent retries per cluster (3 by default); the fallback clusters raise
    it, or most requests of an outage would get the primary's error."""
    g = fresh
    g.mock.fail(status=503, ttft_ms="300")

    def one(_):
        r = httpx.post(f"{g.url}/v1/chat/completions", headers={"authorization": f"Bearer {TEAM_ABC_KEY}"},
                       json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
        return r.status_code

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(one, range(12)))
    assert statuses == [200] * 12
    assert len(g.second_mock.requests()) == 12


# A gateway for timeouts and refused connections: claude-sonnet-private waits 1.5 s for a
# first byte and 2 s of silence; OpenAI's endpoint refuses connections.
def timeouts_config(tmp_path_factory):
    config = json.loads(DEMO_CONFIG.read_text())
    for m in config["models"]:
        if m["name"] == "claude-sonnet-private":
            m["timeouts"] = {"first_byte_ms": 1500, "stream_idle_ms": 2000}
    path = tmp_path_factory.mktemp("timeouts-config") / "filter-config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module", params=VERSIONS)
def slow(request, tmp_path_factory):
    refused = free_port()  # nothing listens there
    g = start(tmp_path_factory, request.param, "timeouts", filter_config=timeouts_config(tmp_path_factory),
              render_args=[f"--upstream=openai=127.0.0.1:{refused}"])
    yield g
    g.stop()


@pytest.fixture
def slow_fresh(slow):
    for m in (slow.mock, slow.second_mock):
        m.fail()
        m.clear()
    yield slow
    for m in (slow.mock, slow.second_mock):
        m.fail()


@pytest.mark.parametrize("stream", [False, True])
def test_connection_refused_falls_back(slow_fresh, stream):
    g = slow_fresh
    r = oai(g).chat.completions.with_raw_response.create(
        model="default-chat", messages=[{"role": "user", "content": "hi"}], stream=stream)
    assert answer_of(r, stream) == "This is a mock reply from the provider. "
    assert len(g.second_mock.requests()) == 1
    entry = access_log_entry(g, r.headers["x-request-id"])
    assert entry["fallbacks"] == "gpt-4o>azure-gpt-4o:connect_failure"
    assert entry["provider"] == "azure"


@pytest.mark.parametrize("stream", [False, True])
def test_first_byte_timeout_falls_back(slow_fresh, stream):
    g = slow_fresh
    g.mock.fail(ttft_ms="4000")
    started = time.monotonic()
    msgs = [{"role": "user", "content": "hello"}]
    if stream:
        with claude(g).messages.stream(model="claude-sonnet-private", max_tokens=64, messages=msgs) as s:
            text = "".join(s.text_stream)
    else:
        text = claude(g).messages.create(model="claude-sonnet-private", max_tokens=64, messages=msgs).content[0].text
    took = time.monotonic() - started
    assert text == "This is a mock reply from the provider. "
    assert 1.4 <= took < 3.5, f"the first attempt was cut at its 1.5 s first-byte timeout: {took:.2f}s"
    assert len(g.mock.requests()) == 1 and len(g.second_mock.requests()) == 1


def test_a_timeout_with_no_fallback_left_is_504_upstream_timeout(slow_fresh):
    g = slow_fresh
    g.mock.fail(ttft_ms="4000")
    r = httpx.post(f"{g.url}/v1/messages", headers={"x-api-key": TEAM_ABC_KEY},
                   json={"model": "claude-sonnet-private", "max_tokens": 64,
                         "messages": [{"role": "user", "content": "Project Bluebird numbers"}]}, timeout=30)
    assert r.status_code == 504
    assert r.headers["x-genai-error-code"] == "upstream_timeout"
    assert "upstream_timeout.md" in r.text
    assert g.second_mock.requests() == [], "confidential: no general-tier fallback"
    entry = access_log_entry(g, r.headers["x-request-id"])
    assert entry["fallbacks"] == "claude-sonnet-private>claude-sonnet:classification"
    assert entry["flags"] == "UT"


def test_a_silent_stream_is_cut_by_the_stream_idle_timeout(slow_fresh):
    """A stream that falls silent after it started is cut (its bytes reached the client, so
    nothing is retried): claude-sonnet-private allows 2 s of silence; a confidential prompt
    has its route alone (no general-tier fallback)."""
    g = slow_fresh
    g.mock.fail(token_delay_ms="4000", tokens="3")
    got = []
    with pytest.raises(CUT_SHORT):
        with claude(g).messages.stream(model="claude-sonnet-private", max_tokens=64,
                                       messages=[{"role": "user", "content": "Project Bluebird numbers"}]) as s:
            request_id = s.response.headers["x-request-id"]
            for text in s.text_stream:
                got.append(text)
    assert got == ["This "], "the first token arrived, then silence"
    entry = access_log_entry(g, request_id)
    assert (entry["flags"], entry["details"]) == ("SI", "stream_idle_timeout")
    assert 1900 <= entry["duration_ms"] < 3000, f"cut after 2 s of silence: {entry['duration_ms']} ms"
    assert g.second_mock.requests() == []
    assert len(g.mock.requests()) == 1


def test_fallback_routes_wait_for_every_attempt_before_the_idle_timeout(slow_fresh):
    """Envoy's stream idle timer counts from the request, across attempts: a chain's route
    allows at least each attempt's first-byte wait plus the retry-after waits between them."""
    import yaml

    cfg = yaml.safe_load(slow_fresh.config_path.read_text())
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = upstream_routes(hcm)
    chain = routes["model:claude-sonnet-private+claude-sonnet"]["route"]
    assert chain["idle_timeout"] == "5s", "2 × 1.5 s first byte + 2 s retry-after"
    assert chain["retry_policy"]["per_try_timeout"] == "1.5s"
    assert routes["model:claude-sonnet-private"]["route"]["idle_timeout"] == "2s"


def test_envoy_has_exactly_the_routes_the_filter_can_choose(tmp_path):
    """`genaictl routes` (the filter's own code) lists every x-genai-upstream value the filter
    can set; scripts/render-envoy renders the routes from the same configuration. They agree,
    route by route: the chain behind each, its cluster, its timeouts."""
    import subprocess

    import yaml

    from harness import GENAICTL, ROOT

    listed = [json.loads(line) for line in subprocess.run(
        [str(GENAICTL), "routes", str(DEMO_CONFIG)], capture_output=True, text=True, check=True).stdout.splitlines()]
    rendered = tmp_path / "envoy.yaml"
    # As scripts/run renders it: with the fleet-wide limits (the demo has `rate_limits`).
    subprocess.run([str(ROOT / "scripts/render-envoy"), str(rendered), "--ratelimit", "127.0.0.1:18081"],
                   check=True)
    cfg = yaml.safe_load(rendered.read_text())
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = upstream_routes(hcm)
    # Besides the filter's routes, the usage endpoint's, to the rate limit service.
    assert routes.pop("genai-usage")["route"]["cluster"] == "genai_ratelimit_http"
    clusters = {c["name"]: c for c in cfg["static_resources"]["clusters"]}
    assert set(routes) == {r["key"] for r in listed}
    seconds = lambda ms: f"{ms / 1000:g}s"
    for spec in listed:
        route = routes[spec["key"]]["route"]
        assert route["cluster"] == spec["cluster"]
        assert route["idle_timeout"] == seconds(spec["idle_ms"])
        assert route["retry_policy"]["per_try_timeout"] == seconds(spec["timeouts"]["first_byte_ms"])
        attempt_filter = routes[spec["key"]].get("typed_per_filter_config", {}).get("genai_attempt", {})
        if len(spec["chain"]) > 1:
            assert route["retry_policy"]["num_retries"] == len(spec["chain"]) - 1
            assert attempt_filter == {}, "the attempt filter runs on fallback routes"
            members = clusters[spec["key"]]["cluster_type"]["typed_config"]["clusters"]
            assert members == [f"target:{m}" for m in spec["chain"]], "the approved chain, in order, and nothing else"
            assert clusters[spec["key"]]["circuit_breakers"]["thresholds"][0]["max_retries"] >= 1024
        else:
            assert route["retry_policy"]["num_retries"] == 0
            assert attempt_filter["disabled"] is True
    # The attempt filter shares the genai filter's VM (the same vm_config), or it could not
    # find the requests' plans.
    [genai] = [f for f in hcm["http_filters"] if f["name"] == "genai"]
    wasm = genai["typed_config"]["config"]["vm_config"]
    router = hcm["http_filters"][-1]["typed_config"]
    [attempt] = [f for f in router["upstream_http_filters"] if f["name"] == "genai_attempt"]
    assert attempt["typed_config"]["config"]["vm_config"] == wasm
    assert attempt["typed_config"]["config"]["root_id"] == "genai_attempt"
