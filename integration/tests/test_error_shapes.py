"""Each API's own error shape, read by each official SDK (Python and Node): Anthropic's on
/v1/messages, OpenAI's on /v1/chat/completions, for the filter's refusals and for Envoy's own
local replies (timeout, unreachable provider). Every refusal keeps its stable code in the
`x-genai-error-code` header and in the body, links its runbook, and reaches no provider."""
from __future__ import annotations

import json
import pathlib
import socket
import subprocess

import anthropic
import httpx
import openai
import pytest
import yaml

from harness import DEMO_CONFIG, ROOT, TEAM_ABC_KEY, TEAM_XYZ_KEY

NODE_DIR = ROOT / "integration/node"
RUNBOOK_BASE = "https://gateway.internal/docs/runbooks/"
CARD = "My card is 4111 1111 1111 1111, can you check it?"
HUGE = "a" * (4 * 1024 * 1024)

# (case, model on /v1/messages, model on /v1/chat/completions, prompt, key, status, code,
#  Anthropic type, Anthropic SDK class, OpenAI SDK class)
FILTER_CASES = [
    ("unknown key", "default-messages", "default-chat", "Hi", "not-a-key", 401, "unauthorized",
     "authentication_error", "AuthenticationError", "AuthenticationError"),
    ("card number for a general model", "claude-sonnet", "gpt-4o", CARD, None, 403, "classification_mismatch",
     "permission_error", "PermissionDeniedError", "PermissionDeniedError"),
    ("model not in the catalog", "claude-99", "gpt-99", "Hi", None, 404, "model_not_found", "not_found_error",
     "NotFoundError", "NotFoundError"),
    ("model of the other API", "gpt-4o", "claude-sonnet", "Hi", None, 400, "model_api_mismatch",
     "invalid_request_error", "BadRequestError", "BadRequestError"),
    ("body over the limit", "claude-sonnet", "gpt-4o", HUGE, None, 413, "request_too_large", "request_too_large",
     "ContentTooLargeError", "APIStatusError"),
]


def anthropic_client(url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=30)


def openai_client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


def assert_anthropic_body(body: dict, status_type: str, code: str, request_id: bool = True) -> None:
    assert body["type"] == "error", body
    err = body["error"]
    assert err["type"] == status_type
    assert err["code"] == code and err["details"] == {"error_code": code}
    assert err["runbook_url"] == f"{RUNBOOK_BASE}{code}.md"
    assert err["message"].endswith(f"(runbook: {RUNBOOK_BASE}{code}.md)")
    if request_id:
        assert body["request_id"], "Anthropic's shape carries the request id"
    assert body["message"] == err["message"], "for the Node SDK's err.message"


@pytest.mark.parametrize("case", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_anthropic_python_sdk_reads_the_gateways_error(gateway, mock, case):
    name, model, _, prompt, key, status, code, a_type, a_class, _ = case
    client = anthropic_client(gateway.url, key or TEAM_XYZ_KEY)
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model=model, max_tokens=16,
                               messages=[{"role": "user", "content": prompt}])
    e = info.value
    assert type(e).__name__ == a_class
    assert e.status_code == status
    assert_anthropic_body(e.body, a_type, code)
    # What the SDK itself exposes: the message, the type, the stable code, the request id.
    assert e.api_message == e.body["error"]["message"] and RUNBOOK_BASE in e.api_message
    assert e.type == a_type
    assert e.error_code == code
    assert e.request_id == e.response.headers["x-request-id"] == e.body["request_id"]
    assert e.response.headers["x-genai-error-code"] == code
    assert e.response.headers["content-type"] == "application/json"
    assert mock.requests() == [], "the provider received a refused request"


@pytest.mark.parametrize("case", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_openai_python_sdk_keeps_openais_shape(gateway, mock, case):
    name, _, model, prompt, key, status, code, _, _, o_class = case
    client = openai_client(gateway.url, key or TEAM_ABC_KEY)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}])
    e = info.value
    assert type(e).__name__ == o_class
    assert e.status_code == status
    assert e.code == code, e.body
    assert e.body["runbook_url"] == f"{RUNBOOK_BASE}{code}.md"
    assert e.body["message"].endswith(f"(runbook: {RUNBOOK_BASE}{code}.md)")
    assert "type" not in e.response.json(), "no Anthropic envelope on the OpenAI API"
    assert e.response.headers["x-genai-error-code"] == code
    assert mock.requests() == []


def test_wrong_method_on_messages_is_anthropic_shaped_too(gateway, mock):
    r = httpx.get(f"{gateway.url}/v1/messages", headers={"x-api-key": TEAM_XYZ_KEY})
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert_anthropic_body(r.json(), "invalid_request_error", "method_not_allowed")
    assert r.headers["request-id"] == r.headers["x-request-id"]
    assert mock.requests() == []


def run_node(cases: list[dict]) -> dict[str, dict]:
    proc = subprocess.run(["node", str(NODE_DIR / "sdk_errors.mjs")], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout)}


def test_node_sdks_read_the_gateways_errors(gateway, mock):
    """@anthropic-ai/sdk and openai from npm (integration/node/package-lock.json)."""
    cases = []
    for name, a_model, o_model, prompt, key, status, code, *_ in FILTER_CASES:
        if code == "request_too_large":
            continue  # the same path as the Python SDK; 4 MiB through a subprocess pipe is slow
        cases.append({"name": f"anthropic {name}", "sdk": "anthropic", "baseURL": gateway.url,
                      "apiKey": key or TEAM_XYZ_KEY,
                      "request": {"model": a_model, "max_tokens": 16,
                                  "messages": [{"role": "user", "content": prompt}]}})
        cases.append({"name": f"openai {name}", "sdk": "openai", "baseURL": f"{gateway.url}/v1",
                      "apiKey": key or TEAM_ABC_KEY,
                      "request": {"model": o_model, "messages": [{"role": "user", "content": prompt}]}})
    cases.append({"name": "anthropic ok", "sdk": "anthropic", "baseURL": gateway.url, "apiKey": TEAM_XYZ_KEY,
                  "request": {"model": "default-messages", "max_tokens": 16,
                              "messages": [{"role": "user", "content": "Hi"}]}})
    got = run_node(cases)
    assert got["anthropic ok"]["ok"], got["anthropic ok"]
    [received] = mock.requests()  # only the good request reached the provider
    assert received["path"].startswith("/v1/messages")
    expected = {c[0]: c for c in FILTER_CASES}
    for name, _, _, prompt, key, status, code, a_type, a_class, o_class in expected.values():
        if code == "request_too_large":
            continue
        a = got[f"anthropic {name}"]
        assert not a["ok"] and a["status"] == status, a
        assert a["class"] == a_class
        assert a["errorCode"] == code and a["type"] == a_type and a["headerCode"] == code
        assert a["apiMessage"].endswith(f"(runbook: {RUNBOOK_BASE}{code}.md)")
        # The SDK's own message is the gateway's text, not the body's JSON.
        assert a["message"] == f"{status} {a['apiMessage']}", a["message"]
        assert a["requestID"] and a["requestID"] == a["body"]["request_id"]
        assert_anthropic_body(a["body"], a_type, code)
        o = got[f"openai {name}"]
        assert not o["ok"] and o["status"] == status and o["class"] == o_class, o
        assert o["code"] == code and o["headerCode"] == code
        # OpenAI's SDK shows the gateway's message itself, runbook link included.
        assert o["message"] == f"{status} {o['body']['message']}"
        assert o["message"].endswith(f"(runbook: {RUNBOOK_BASE}{code}.md)")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


# Providers the configuration names but no Envoy route serves (the route is cut from the
# rendered configuration): the filter picks them, Envoy answers 502 upstream_not_routed.
UNROUTED = {"openai-unrouted": ("openai", "gpt-unrouted"), "anthropic-unrouted": ("anthropic", "claude-unrouted")}


def with_unrouted_providers(path: pathlib.Path) -> pathlib.Path:
    c = json.loads(DEMO_CONFIG.read_text())
    for provider, (kind, model) in UNROUTED.items():
        base = next(p for p in c["providers"] if p["name"] == kind)
        c["providers"].append({**base, "name": provider})
        c["models"].append({"name": model, "provider": provider, "tier": "general"})
        for team in c["teams"]:
            if team.get("allowed_models") is not None:
                team["allowed_models"].append(model)
    path.write_text(json.dumps(c, indent=1))
    return path


def without_unrouted_routes(text: str) -> str:
    cfg = yaml.safe_load(text)
    cut = 0
    for listener in cfg["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for f in chain["filters"]:
                rc = f.get("typed_config", {}).get("route_config")
                for vh in (rc or {}).get("virtual_hosts", []):
                    keep = [r for r in vh["routes"]
                            if not any(h.get("string_match", {}).get("exact") in UNROUTED
                                       for h in r.get("match", {}).get("headers", []))]
                    cut += len(vh["routes"]) - len(keep)
                    vh["routes"] = keep
    assert cut >= len(UNROUTED), "the unrouted providers' routes were not found"
    return json.dumps(cfg)


@pytest.fixture(scope="module")
def envoy_errors_gateway(tmp_path_factory):
    """A gateway whose routes time out after 1 s, whose public Anthropic and Azure providers
    are unreachable, and two of whose providers have no route: Envoy itself answers 504, 503
    and 502. (Models without fallbacks for the 503: a model with them would be served by its
    fallback, test_fallback.py.)"""
    from deployment import start_gateway

    port = closed_port()
    work = tmp_path_factory.mktemp("envoy-errors")
    gw = start_gateway(work / "gw", filter_config=with_unrouted_providers(work / "filter-config.json"),
                       patch=without_unrouted_routes,
                       render_args=["--route-timeout", "1s", "--upstream", f"anthropic=127.0.0.1:{port}",
                                    "--upstream", f"azure=127.0.0.1:{port}"])
    try:
        yield gw
    finally:
        gw.stop()


ENVOY_CASES = [
    # (case, Anthropic model, OpenAI model, extra headers, status, code, Anthropic type, classes)
    ("provider too slow", "claude-sonnet-private", "gpt-4o", {"x-mock-hang-ms": "3000"}, 504, "upstream_timeout",
     "timeout_error", "GatewayTimeoutError", "InternalServerError"),
    ("provider unreachable", "claude-sonnet", "azure-gpt-4o", {}, 503, "upstream_unavailable",
     "api_error", "ServiceUnavailableError", "InternalServerError"),
    ("provider without a route", "claude-unrouted", "gpt-unrouted", {}, 502, "upstream_not_routed",
     "api_error", "InternalServerError", "InternalServerError"),
]


@pytest.mark.parametrize("case", ENVOY_CASES, ids=[c[0] for c in ENVOY_CASES])
def test_envoys_own_replies_in_both_shapes(envoy_errors_gateway, case):
    gw = envoy_errors_gateway
    name, a_model, o_model, headers, status, code, a_type, a_class, o_class = case
    gw.mock.clear()
    client = anthropic.Anthropic(base_url=gw.url, api_key=TEAM_XYZ_KEY, max_retries=0, timeout=30,
                                 default_headers=headers)
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model=a_model, max_tokens=16, messages=[{"role": "user", "content": "Hi"}])
    e = info.value
    assert type(e).__name__ == a_class and e.status_code == status
    assert_anthropic_body(e.body, a_type, code)
    assert e.error_code == code and e.api_message == e.body["error"]["message"]
    assert e.request_id == e.response.headers["x-request-id"]
    assert e.response.headers["x-genai-error-code"] == code

    oclient = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=TEAM_ABC_KEY, max_retries=0, timeout=30,
                            default_headers=headers)
    with pytest.raises(openai.APIStatusError) as info:
        oclient.chat.completions.create(model=o_model, messages=[{"role": "user", "content": "Hi"}])
    o = info.value
    assert type(o).__name__ == o_class and o.status_code == status
    assert o.code == code and o.body["runbook_url"] == f"{RUNBOOK_BASE}{code}.md"
    assert "type" not in o.response.json()

    got = run_node([
        {"name": "anthropic", "sdk": "anthropic", "baseURL": gw.url, "apiKey": TEAM_XYZ_KEY, "headers": headers,
         "request": {"model": a_model, "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}},
        {"name": "openai", "sdk": "openai", "baseURL": f"{gw.url}/v1", "apiKey": TEAM_ABC_KEY, "headers": headers,
         "request": {"model": o_model, "messages": [{"role": "user", "content": "Hi"}]}},
    ])
    assert got["anthropic"]["status"] == status and got["anthropic"]["errorCode"] == code, got
    assert got["anthropic"]["type"] == a_type
    assert got["anthropic"]["apiMessage"].endswith(f"(runbook: {RUNBOOK_BASE}{code}.md)")
    assert got["anthropic"]["message"] == f"{status} {got['anthropic']['apiMessage']}"
    assert got["openai"]["status"] == status and got["openai"]["code"] == code, got
    if code != "upstream_timeout":  # the slow provider did receive its requests
        assert gw.mock.requests() == [], "nothing reached a provider"


@pytest.fixture(scope="module")
def limited_gateway(tmp_path_factory):
    """A gateway whose teams may make one request a minute, with Redis and the rate limit
    service: the second request of a minute is Envoy's 429 rate_limited, whose body the rate
    limit service writes in the shape of the API called."""
    from harness import Gateway, RateLimitService, Redis

    work = tmp_path_factory.mktemp("limited")
    config = json.loads(DEMO_CONFIG.read_text())
    for team in config["teams"]:
        team["requests_per_minute"] = 1
    path = work / "filter-config.json"
    path.write_text(json.dumps(config, indent=1))
    redis = Redis(work / "redis").start()
    service = gw = None
    try:
        service = RateLimitService(work, path, redis).start()
        gw = Gateway(workdir=work / "gw", filter_config=path, ratelimit=service).start()
        yield gw
    finally:
        for part in (gw, service, redis):
            if part:
                part.stop()


def first_refusal(call, error: type) -> Exception:
    """Calls until one is refused: with one request a minute, the second (or, across a minute's
    end, the third) is."""
    for _ in range(3):
        try:
            call()
        except error as e:
            return e
    raise AssertionError("never rate limited")


def test_rate_limited_in_both_shapes(limited_gateway):
    gw = limited_gateway
    code, runbook = "rate_limited", f"{RUNBOOK_BASE}rate_limited.md"
    msgs = [{"role": "user", "content": "Hi"}]

    a = anthropic_client(gw.url, TEAM_XYZ_KEY)
    gw.mock.clear()
    e = first_refusal(lambda: (gw.mock.clear(), a.messages.create(model="claude-sonnet", max_tokens=16, messages=msgs)),
                      anthropic.APIStatusError)
    assert type(e).__name__ == "RateLimitError" and e.status_code == 429
    # The rate limit service writes this body, with Envoy's request id (its descriptors carry it).
    assert_anthropic_body(e.body, "rate_limit_error", code)
    assert e.request_id == e.response.headers["x-request-id"] == e.body["request_id"]
    assert e.type == "rate_limit_error" and e.error_code == code
    assert e.api_message == e.body["error"]["message"] and e.api_message.endswith(f"(runbook: {runbook})")
    assert e.response.headers["x-genai-error-code"] == code and int(e.response.headers["retry-after"]) <= 60
    assert gw.mock.requests() == [], "the refused request reached the provider"

    o = openai_client(gw.url, TEAM_ABC_KEY)
    e = first_refusal(lambda: (gw.mock.clear(), o.chat.completions.create(model="gpt-4o", messages=msgs)),
                      openai.APIStatusError)
    assert type(e).__name__ == "RateLimitError" and e.status_code == 429
    assert e.code == code and e.body["runbook_url"] == runbook and e.body["type"] == "rate_limit_error"
    assert e.body["message"].endswith(f"(runbook: {runbook})")
    assert "type" not in e.response.json(), "no Anthropic envelope on the OpenAI API"
    assert gw.mock.requests() == []

    # The Node SDKs, within the same minute as the refusals above (or refused on their own).
    gw.mock.clear()
    cases = []
    for i in range(2):
        cases.append({"name": f"anthropic {i}", "sdk": "anthropic", "baseURL": gw.url, "apiKey": TEAM_XYZ_KEY,
                      "request": {"model": "claude-sonnet", "max_tokens": 16, "messages": msgs}})
        cases.append({"name": f"openai {i}", "sdk": "openai", "baseURL": f"{gw.url}/v1", "apiKey": TEAM_ABC_KEY,
                      "request": {"model": "gpt-4o", "messages": msgs}})
    got = run_node(cases)
    for sdk in ("anthropic", "openai"):
        refused = [got[f"{sdk} {i}"] for i in range(2) if not got[f"{sdk} {i}"]["ok"]]
        assert refused, got  # at most one of two requests in a minute passes
        n = refused[0]
        assert n["status"] == 429 and n["class"] == "RateLimitError" and n["headerCode"] == code, n
        if sdk == "anthropic":
            assert n["errorCode"] == code and n["type"] == "rate_limit_error"
            assert n["apiMessage"].endswith(f"(runbook: {runbook})")
            assert n["message"] == f"429 {n['apiMessage']}", n["message"]
            assert_anthropic_body(n["body"], "rate_limit_error", code)
        else:
            assert n["code"] == code and n["message"] == f"429 {n['body']['message']}"
    passed = sum(r["ok"] for r in got.values())
    assert len(gw.mock.requests()) == passed, "only the admitted requests reached the provider"
