"""`genaictl usage` against what the real Envoy counted: every provider transcript in
shared/fixtures/provider-transcripts, replayed by the mock through the gateway, must give the
same tokens, the same estimated flag and the same cost as `genaictl usage` reading the same
bytes (and both must equal expected-usage.json where the provider reported usage)."""
from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from harness import DEMO_CONFIG, GENAICTL, TRANSCRIPTS, envoy_stats, wait_until
from test_usage_fixtures import EXPECTED, FILES, TYPES, route

PROVIDER = {"/v1/messages": "anthropic", "/v1/responses": "openai-responses", "/v1/chat/completions": "openai"}


def genaictl_usage(raw: bytes, *args: str) -> dict:
    done = subprocess.run([str(GENAICTL), "usage", *args], input=raw, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def counted(before: dict, after: dict, labels: str) -> tuple[dict, bool, int]:
    """What Envoy counted for one request: tokens by type, estimated or not, cost."""
    tokens, estimated = {}, False
    for t in TYPES.values():
        for flag in ("false", "true"):
            name = f"genai_tokens_total;{labels};type={t};estimated={flag}"
            delta = after.get(name, 0) - before.get(name, 0)
            if delta:
                tokens[t] = tokens.get(t, 0) + delta
                estimated |= flag == "true"
    team_model = ";".join(labels.split(";")[:2])
    cost_name = f"genai_request_cost_microdollars_total;{team_model}"
    return tokens, estimated, int(after.get(cost_name, 0) - before.get(cost_name, 0))


@pytest.fixture(scope="module")
def tokenizers_loaded(gateway):
    """The filter loads its vocabularies on the tick after configuration (every VM: the main
    thread's and each worker's); an estimate made before that uses the heuristic."""
    wait_until(lambda: gateway.log_text().count("genai filter: tokenizer O200k loaded") >= 3, 30,
               "the tokenizer to load in every VM")


@pytest.mark.parametrize("name", FILES)
def test_usage_cli_counts_what_envoy_counted(gateway, mock, tokenizers_loaded, name):
    path, model, key, labels = route(name)
    stream = name.endswith(".sse")
    if path == "/v1/responses":
        payload = {"model": model, "input": "Say hello", "stream": stream}
    else:
        payload = {"model": model, "max_tokens": 64, "stream": stream, "messages": [{"role": "user", "content": "Say hello"}]}
    request = json.dumps(payload).encode()
    before = envoy_stats(gateway)
    r = httpx.post(f"{gateway.url}{path}", content=request, timeout=60,
                   headers={"authorization": f"Bearer {key}", "content-type": "application/json", "x-mock-replay": name})
    assert r.status_code == 200, r.text
    tokens, estimated, cost = counted(before, envoy_stats(gateway), labels)

    raw = (TRANSCRIPTS / name).read_bytes()
    request_file = gateway.workdir / f"request-{name}.json"
    request_file.write_bytes(request)
    got = genaictl_usage(raw, "--provider", PROVIDER[path], "--model", model, "--config", str(DEMO_CONFIG),
                         "--request", str(request_file))
    cli_tokens = {TYPES[k]: got[k] for k in TYPES if got[k]}
    assert got["estimated"] == estimated == EXPECTED[name]["estimated"], (got, estimated)
    assert cli_tokens == tokens, f"{name}: genaictl {cli_tokens} vs Envoy {tokens}"
    assert got["cost_microdollars"] == cost > 0
    assert got["stream"] == stream
    if not estimated:
        assert {k: got[k] for k in TYPES} == {k: EXPECTED[name][k] for k in TYPES}


def test_usage_without_a_catalog_or_model(tmp_path):
    raw = (TRANSCRIPTS / "anthropic-stream_basic.sse").read_bytes()
    got = genaictl_usage(raw, "--provider", "anthropic")
    want = EXPECTED["anthropic-stream_basic.sse"]
    assert {k: got[k] for k in TYPES} == {k: want[k] for k in TYPES}
    assert "cost_microdollars" not in got, "no price without a catalog model"
    assert got["model"] is None


@pytest.mark.parametrize("args,stdin,message", [
    (["--provider", "azure"], b"{}", "--provider azure: expected openai"),
    (["--model", "gpt-4o"], b"{}", "usage needs --provider"),
    (["--provider", "openai", "--model", "gpt-99", "--config", str(DEMO_CONFIG)], b"{}", "model `gpt-99` is not in"),
    (["--provider", "openai"], b"  \n", "no response body on standard input"),
    (["--provider", "openai", "--bogus"], b"{}", "unknown option --bogus"),
])
def test_usage_bad_arguments_say_why(args, stdin, message):
    done = subprocess.run([str(GENAICTL), "usage", *args], input=stdin, capture_output=True, timeout=30)
    assert done.returncode == 1
    assert message in done.stderr.decode(), done.stderr.decode()
