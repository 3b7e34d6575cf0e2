"""A soak that loses nothing: one Envoy with two workers, the mock provider and a real
Prometheus, and many requests mixed as real traffic is (OpenAI and Anthropic, streamed and
not, tools, redactions, refusals, bad input, client disconnects mid-stream) from several
concurrent clients (the official SDKs where a client would use one), bounded in count and time.

Then: no unexpected status; no Wasm VM created or reloaded (Envoy's wasm stats); Envoy's RSS
grows less than 5 % between the end of the first half and the end of the second; and the
accounting is exact: genai_requests_total equals the requests sent per team and outcome, and
the token and cost totals in Envoy's stats and in Prometheus equal what the mock reported (the
disconnected requests, whose usage the gateway must estimate, on a model of their own and
counted as estimated).

The short version runs in scripts/test; scripts/soak runs the full one
(GENAI_SOAK_REQUESTS=100000) and writes the figures (GENAI_SOAK_REPORT) for docs/reliability.md.
"""
from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import random
import threading
import time

import anthropic
import httpx
import openai
import pytest

from harness import DEMO_CONFIG, TEAM_ABC_KEY, TEAM_XYZ_KEY, TRANSCRIPTS, Gateway, Prometheus, envoy_stats, wait_until

REQUESTS = int(os.environ.get("GENAI_SOAK_REQUESTS", "1000"))
CLIENTS = int(os.environ.get("GENAI_SOAK_CLIENTS", "6"))
MAX_SECONDS = float(os.environ.get("GENAI_SOAK_MAX_SECONDS", "900"))
REPORT = os.environ.get("GENAI_SOAK_REPORT")

PRICES = {  # envoy/demo/filter-config.json, micro-dollars per million tokens
    "gpt-4o": dict(input=2_500_000, cached_input=1_250_000, cache_write=2_500_000, output=10_000_000),
    "claude-sonnet": dict(input=3_000_000, cached_input=300_000, cache_write=3_750_000, output=15_000_000),
}
EXPECTED_USAGE = json.loads((TRANSCRIPTS / "expected-usage.json").read_text()) if TRANSCRIPTS.exists() else {}


def cost(model: str, u: dict) -> int:
    """One request's cost in micro-dollars, rounded as the filter rounds it."""
    p = PRICES[model]
    pico = (u["input"] - u["cached"] - u["cache_write"]) * p["input"] + u["cached"] * p["cached_input"] \
        + u["cache_write"] * p["cache_write"] + u["output"] * p["output"]
    return (pico + 500_000) // 1_000_000


def usage(input: int, output: int, cached: int = 0, cache_write: int = 0) -> dict:
    return dict(input=input, output=output, cached=cached, cache_write=cache_write)


PROMPT = [{"role": "user", "content": "Summarize this quarter's earnings report in three bullet points."}]
PII_PROMPT = [{"role": "user", "content": "Draft a reply to jane.doe@example.com about the invoice."}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
TOKENS = {"x-mock-tokens": "12"}

# (kind, weight, team, model label, code_class, origin); the model is that of the stat series.
KINDS = [
    ("openai_json", 14, "team-abc", "gpt-4o", "2xx", "provider"),
    ("openai_stream_usage", 12, "team-abc", "gpt-4o", "2xx", "provider"),
    ("openai_stream_stripped", 12, "team-abc", "gpt-4o", "2xx", "provider"),
    ("openai_tools_replay", 6, "team-abc", "gpt-4o", "2xx", "provider"),
    ("openai_redacted", 8, "team-abc", "gpt-4o", "2xx", "provider"),
    ("anthropic_json", 10, "team-xyz", "claude-sonnet", "2xx", "provider"),
    ("anthropic_stream", 10, "team-xyz", "claude-sonnet", "2xx", "provider"),
    ("anthropic_tool_stream_replay", 5, "team-xyz", "claude-sonnet", "2xx", "provider"),
    ("provider_429", 3, "team-abc", "gpt-4o", "4xx", "provider"),
    ("refused_no_key", 4, "none", None, "4xx", "gateway"),
    ("refused_tier", 4, "team-abc", None, "4xx", "gateway"),
    ("bad_json", 4, "team-abc", None, "4xx", "gateway"),
    ("client_disconnect", 4, "team-abc", "gpt-4o-mini", "2xx", "provider"),
]
KIND = {k[0]: k for k in KINDS}


def soak_config(path) -> None:
    """The demo configuration without request or budget limits: the soak measures accounting,
    not the limits (which would refuse a soak's rate by design)."""
    config = json.loads(DEMO_CONFIG.read_text())
    config.pop("rate_limits", None)
    for team in config["teams"]:
        for key in [k for k in team if "budget" in k or "per_minute" in k or "per_day" in k]:
            del team[key]
    path.write_text(json.dumps(config))


class Client:
    """One concurrent client: its SDK clients and an httpx client, and what it saw."""

    def __init__(self, url: str):
        self.url = url
        self.oai = openai.OpenAI(base_url=f"{url}/v1", api_key=TEAM_ABC_KEY, max_retries=0, timeout=30)
        self.ant = anthropic.Anthropic(base_url=url, api_key=TEAM_XYZ_KEY, max_retries=0, timeout=30)
        self.http = httpx.Client(timeout=30)

    def close(self):
        self.oai.close()
        self.ant.close()
        self.http.close()

    def run(self, kind: str) -> tuple[int, dict | None]:
        """Sends one request of `kind`; returns (status, the usage the client saw, if any)."""
        if kind == "openai_json":
            r = self.oai.chat.completions.create(model="default-chat", messages=PROMPT, extra_headers=TOKENS)
            return 200, usage(r.usage.prompt_tokens, r.usage.completion_tokens)
        if kind == "openai_stream_usage":
            chunks = list(self.oai.chat.completions.create(model="gpt-4o", messages=PROMPT, stream=True,
                                                           stream_options={"include_usage": True},
                                                           extra_headers=TOKENS))
            u = chunks[-1].usage
            return 200, usage(u.prompt_tokens, u.completion_tokens)
        if kind == "openai_stream_stripped":
            chunks = list(self.oai.chat.completions.create(model="gpt-4o", messages=PROMPT, stream=True,
                                                           extra_headers=TOKENS))
            assert all(c.usage is None for c in chunks), "a usage chunk the client did not ask for"
            assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 12
            return 200, None
        if kind == "openai_tools_replay":
            r = self.http.post(f"{self.url}/v1/chat/completions",
                               headers={"authorization": f"Bearer {TEAM_ABC_KEY}",
                                        "x-mock-replay": "openai-chat-tool_call.json"},
                               json={"model": "gpt-4o", "messages": PROMPT, "tools": TOOLS})
            if r.status_code == 200:
                assert r.json()["choices"][0]["message"]["tool_calls"]
            return r.status_code, None
        if kind == "openai_redacted":
            r = self.oai.chat.completions.create(model="gpt-4o", messages=PII_PROMPT, extra_headers=TOKENS)
            return 200, usage(r.usage.prompt_tokens, r.usage.completion_tokens)
        if kind == "anthropic_json":
            m = self.ant.messages.create(model="claude-sonnet", max_tokens=64, messages=PROMPT, extra_headers=TOKENS)
            return 200, usage(m.usage.input_tokens, m.usage.output_tokens)
        if kind == "anthropic_stream":
            with self.ant.messages.stream(model="claude-sonnet", max_tokens=64, messages=PROMPT,
                                          extra_headers=TOKENS) as s:
                "".join(s.text_stream)
                m = s.get_final_message()
            return 200, usage(m.usage.input_tokens, m.usage.output_tokens)
        if kind == "anthropic_tool_stream_replay":
            r = self.http.post(f"{self.url}/v1/messages",
                               headers={"x-api-key": TEAM_XYZ_KEY, "x-mock-replay": "anthropic-stream_tool.sse"},
                               json={"model": "claude-sonnet", "max_tokens": 64, "stream": True, "messages": PROMPT,
                                     "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]})
            if r.status_code == 200:
                assert b"input_json_delta" in r.content and b"message_stop" in r.content
            return r.status_code, None
        if kind == "provider_429":
            try:
                self.oai.chat.completions.create(model="gpt-4o", messages=PROMPT, extra_headers={"x-mock-status": "429"})
            except openai.RateLimitError as e:
                return e.status_code, None
            return 200, None
        if kind == "refused_no_key":
            r = self.http.post(f"{self.url}/v1/chat/completions", json={"model": "gpt-4o", "messages": PROMPT})
            return r.status_code, None
        if kind == "refused_tier":
            try:
                self.oai.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "Status of Project Bluebird?"}])
            except openai.APIStatusError as e:
                return e.status_code, None
            return 200, None
        if kind == "bad_json":
            r = self.http.post(f"{self.url}/v1/chat/completions", content=b'{"model": "gpt-4o", "messages": [',
                               headers={"authorization": f"Bearer {TEAM_ABC_KEY}", "content-type": "application/json"})
            return r.status_code, None
        if kind == "client_disconnect":
            with self.http.stream("POST", f"{self.url}/v1/chat/completions",
                                  headers={"authorization": f"Bearer {TEAM_ABC_KEY}", "x-mock-tokens": "400",
                                           "x-mock-token-delay-ms": "5"},
                                  json={"model": "gpt-4o-mini", "messages": PROMPT, "stream": True}) as r:
                seen = 0
                for line in r.iter_lines():
                    seen += line.startswith("data: {")
                    if seen >= 3:
                        break  # leaving the block closes the connection mid-stream
                return r.status_code, None
        raise AssertionError(kind)


EXPECTED_STATUS = {"provider_429": 429, "refused_no_key": 401, "refused_tier": 403, "bad_json": 400}


def wasm_stats(gw) -> dict[str, int]:
    out = {}
    for line in httpx.get(f"{gw.admin}/stats", params={"filter": "^wasm\\."}).text.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            out[name] = int(value)
    return out


def rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def replay_usage(name: str) -> dict:
    e = EXPECTED_USAGE[name]
    return usage(e["input_tokens"], e["output_tokens"], e["cached_input_tokens"], e["cache_write_input_tokens"])


@pytest.fixture(scope="module")
def soaked(tmp_path_factory):
    work = tmp_path_factory.mktemp("soak")
    config = work / "soak-filter-config.json"
    soak_config(config)
    gw = Gateway(workdir=work / "gw", filter_config=config, concurrency=2)
    try:
        gw.start()
    except TimeoutError:
        # V8 compiling the module on a loaded 2-core machine can outlast the harness's 30 s.
        wait_until(lambda: httpx.get(f"{gw.admin}/ready").status_code == 200, 90, "Envoy to be ready")
    except Exception:
        gw.stop()
        raise
    (work / "prometheus").mkdir()
    prom = Prometheus(work / "prometheus", gw)
    yield gw, prom
    prom.stop()
    gw.stop()


def test_soak_loses_nothing(soaked):
    gw, prom = soaked
    assert TRANSCRIPTS.is_dir(), f"{TRANSCRIPTS} is missing: the clone must sit beside shared/"
    # What the mock reports for each kind whose usage the client cannot see (the stripped
    # stream: the same prompt and length as the one it can see; the replays: the transcript's
    # recorded usage). The mock is deterministic; each visible usage is checked against these.
    calib = Client(gw.url)
    known = {
        "openai_stream_stripped": calib.run("openai_stream_usage")[1],
        "openai_tools_replay": replay_usage("openai-chat-tool_call.json"),
        "anthropic_tool_stream_replay": replay_usage("anthropic-stream_tool.sse"),
    }
    for kind in ("openai_json", "openai_stream_usage", "openai_redacted", "anthropic_json", "anthropic_stream"):
        known[kind] = calib.run(kind)[1]
    calib.close()
    # Counters from here on: everything before is subtracted.
    base = envoy_stats(gw)
    wasm_before = wasm_stats(gw)
    assert "wasm.envoy.wasm.runtime.v8.created" in wasm_before, wasm_before

    rng = random.Random(14)
    plan = rng.choices([k[0] for k in KINDS], weights=[k[1] for k in KINDS], k=REQUESTS)
    sent = collections.Counter()
    seen_usage: dict[str, list] = collections.defaultdict(list)
    problems: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(REQUESTS))
    rss = {}
    deadline = time.monotonic() + MAX_SECONDS
    t0 = time.monotonic()

    def worker():
        c = Client(gw.url)
        try:
            while time.monotonic() < deadline:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                kind = plan[i]
                try:
                    status, u = c.run(kind)
                except Exception as e:  # noqa: BLE001 - every failure is a finding, reported below
                    status, u = -1, None
                    with lock:
                        problems.append(f"#{i} {kind}: {type(e).__name__}: {e}")
                with lock:
                    sent[kind] += 1
                    if status != EXPECTED_STATUS.get(kind, 200):
                        problems.append(f"#{i} {kind}: status {status}")
                    if u is not None:
                        seen_usage[kind].append(u)
                    if i == REQUESTS // 2:
                        rss["half"] = rss_mib(gw.proc.pid)
        finally:
            c.close()

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        for f in [pool.submit(worker) for _ in range(CLIENTS)]:
            f.result()
    elapsed = time.monotonic() - t0
    rss["end"] = rss_mib(gw.proc.pid)
    total = sum(sent.values())
    assert total == REQUESTS, f"only {total} of {REQUESTS} requests in {MAX_SECONDS} s"
    assert not problems, f"{len(problems)} unexpected outcomes, first ones: {problems[:10]}"
    for kind, us in seen_usage.items():
        assert all(u == known[kind] for u in us), f"{kind}: the mock reported varying usage"

    # Every request is counted once (the filter counts in on_log, a moment after the client is done).
    def requests_counted():
        s = envoy_stats(gw)
        return sum(v - base.get(k, 0) for k, v in s.items() if k.startswith("genai_requests_total;")) >= total

    wait_until(requests_counted, 30, "every request to be counted")
    time.sleep(1)
    stats = envoy_stats(gw)
    delta = {k: v - base.get(k, 0) for k, v in stats.items() if v != base.get(k, 0)}

    # genai_requests_total per team and outcome.
    want_requests = collections.Counter()
    for kind, n in sent.items():
        _, _, team, _, code_class, origin = KIND[kind]
        want_requests[(team, code_class, origin)] += n
    got_requests = collections.Counter()
    for k, v in delta.items():
        if k.startswith("genai_requests_total;"):
            labels = dict(p.split("=", 1) for p in k.split(";")[1:])
            got_requests[(labels["team"], labels["code_class"], labels["origin"])] += v
    assert got_requests == want_requests

    # Tokens and cost, exactly as the mock reported them.
    want_tokens = collections.Counter()
    want_cost = collections.Counter()
    for kind, n in sent.items():
        if kind not in known:
            continue
        _, _, team, model, _, _ = KIND[kind]
        u = known[kind]
        for t, field in (("input", "input"), ("output", "output"), ("cached_input", "cached"),
                         ("cache_write", "cache_write")):
            want_tokens[(team, model, t)] += n * u[field]
        want_cost[(team, model)] += n * cost(model, u)
    got_tokens = collections.Counter()
    estimated = collections.Counter()
    got_cost = collections.Counter()
    for k, v in delta.items():
        parts = k.split(";")
        labels = dict(p.split("=", 1) for p in parts[1:])
        if parts[0] == "genai_tokens_total":
            if labels["estimated"] == "true":
                estimated[(labels["team"], labels["model"], labels["type"])] += v
            else:
                got_tokens[(labels["team"], labels["model"], labels["type"])] += v
        elif parts[0] == "genai_request_cost_microdollars_total":
            got_cost[(labels["team"], labels["model"])] += v
    want_tokens = +want_tokens  # zero entries dropped, as Envoy has no such series
    assert +got_tokens == want_tokens
    disconnects = sent["client_disconnect"]
    assert {m for (_, m, _) in estimated} <= {"gpt-4o-mini"}, f"estimated tokens outside the disconnects: {estimated}"
    if disconnects:
        assert estimated[("team-abc", "gpt-4o-mini", "input")] > 0 and estimated[("team-abc", "gpt-4o-mini", "output")] > 0
    assert {k: v for k, v in got_cost.items() if k[1] != "gpt-4o-mini"} == +want_cost

    # No VM was lost; the memory did not keep growing.
    assert wasm_stats(gw) == wasm_before, "a Wasm VM was created, reloaded or failed during the soak"
    growth = (rss["end"] - rss["half"]) / rss["half"]

    # The same totals in Prometheus as in Envoy's stats (labels from the stats tags).
    def envoy_sum(metric: str, **labels) -> float:
        want = [f"{k}={v}" for k, v in labels.items()]
        return sum(v for k, v in stats.items()
                   if k.split(";")[0] == metric and all(w in k.split(";")[1:] for w in want))

    def prom_query(metric: str, **labels) -> str:
        return f"sum({metric}{{{','.join(f'{k}={json.dumps(v)}' for k, v in labels.items())}}})"

    checks = [("genai_requests_total", {})]
    checks += [("genai_tokens_total", dict(team=team, model=model, type=t, estimated="false"))
               for (team, model, t) in want_tokens]
    checks += [("genai_request_cost_microdollars_total", dict(team=team, model=model)) for (team, model) in want_cost]
    first_metric, first_labels = checks[-1]
    wait_until(lambda: prom.value(prom_query(first_metric, **first_labels)) == envoy_sum(first_metric, **first_labels),
               30, "Prometheus to scrape the soak's last counters")
    for metric, labels in checks:
        assert prom.value(prom_query(metric, **labels)) == envoy_sum(metric, **labels), (metric, labels)

    figures = {
        "requests": total, "clients": CLIENTS, "seconds": round(elapsed, 1),
        "requests_per_second": round(total / elapsed, 1), "sent": dict(sent),
        "envoy_rss_mib": {k: round(v, 1) for k, v in rss.items()}, "rss_growth_second_half": round(growth, 4),
        "tokens_exact": {";".join(k): v for k, v in want_tokens.items()},
        "tokens_estimated": {";".join(k): v for k, v in estimated.items()},
        "wasm": wasm_stats(gw),
    }
    print(json.dumps(figures, indent=1))
    if REPORT:
        pathlib_write(REPORT, figures)
    assert growth < 0.05, f"Envoy's RSS grew {growth:.1%} in the second half: {rss}"


def pathlib_write(path: str, figures: dict) -> None:
    with open(path, "w") as f:
        json.dump(figures, f, indent=1)
