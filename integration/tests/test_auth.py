"""Team keys: who may call, and what never reaches the provider."""
import json

import httpx
import openai
import pytest

import uuid

from harness import TEAM_ABC_KEY, access_log_entry

GOOD = {"model": "default-chat", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("headers", [
    {},
    {"authorization": "Bearer not-a-real-key"},
    {"authorization": "Basic dGVhbS1hYmM6eA=="},
    {"x-api-key": "team-abc-key-xxxxy"},
    {"authorization": f"Bearer {TEAM_ABC_KEY}", "x-api-key": "team-xyz-key-yyyyy"},
])
def test_missing_or_unknown_key_is_401_before_upstream(gateway, mock, headers):
    r = httpx.post(f"{gateway.url}/v1/chat/completions", json=GOOD, headers=headers, timeout=30)
    assert r.status_code == 401, r.text
    err = r.json()["error"]
    assert err["code"] == "unauthorized"
    assert err["type"] == "authentication_error"
    assert "not-a-real-key" not in r.text and "team-abc-key" not in r.text
    assert mock.requests() == []


def test_sdk_sees_authentication_error(gateway, mock):
    c = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        c.chat.completions.create(**GOOD)
    assert e.value.code == "unauthorized"
    assert mock.requests() == []


def test_spoofed_gateway_and_envoy_headers_are_stripped(gateway, mock):
    """A client cannot pick the upstream, claim a team, or steer Envoy's retries/timeouts."""
    request_id = str(uuid.uuid4())
    r = httpx.post(
        f"{gateway.url}/v1/chat/completions", json=GOOD, timeout=30,
        headers={
            "x-request-id": request_id,
            "authorization": f"Bearer {TEAM_ABC_KEY}",
            "x-genai-upstream": "azure",
            "x-genai-team": "team-xyz",
            "x-envoy-max-retries": "5",
            "x-envoy-retry-on": "5xx",
            "x-envoy-upstream-rq-timeout-ms": "1",
            # Envoy drops its own control headers from external requests, but not this one
            # (nor would it drop any of them behind a trusted internal_address_config).
            "x-envoy-original-path": "/spoofed",
            "x-envoy-anything": "x",
        },
    )
    assert r.status_code == 200, r.text
    [got] = mock.requests()
    assert got["path"] == "/v1/chat/completions", "routed to openai, not the spoofed azure"
    assert "api-key" not in got["headers"]
    client_envoy = {"x-envoy-max-retries", "x-envoy-retry-on", "x-envoy-upstream-rq-timeout-ms",
                     "x-envoy-original-path", "x-envoy-anything"}
    assert not [h for h in got["headers"] if h.startswith("x-genai-") or h in client_envoy], got["headers"]

    entry = access_log_entry(gateway, request_id)
    assert (entry["status"], entry["team"], entry["model"], entry["provider"]) == (200, "team-abc", "gpt-4o", "openai")


def test_secrets_never_in_envoy_log_or_responses(gateway, mock):
    for headers in ({"authorization": f"Bearer {TEAM_ABC_KEY}"}, {"authorization": "Bearer wrong-key-123"}):
        r = httpx.post(f"{gateway.url}/v1/chat/completions", json=GOOD, headers=headers, timeout=30)
        for secret in gateway.provider_keys.values():
            assert secret not in r.text and secret not in str(r.headers)
    log = gateway.log_text()
    for secret in [*gateway.provider_keys.values(), TEAM_ABC_KEY, "wrong-key-123"]:
        assert secret not in log, "a secret is in Envoy's log"
    rendered = gateway.config_path.read_text()
    for secret in gateway.provider_keys.values():
        assert secret not in rendered, "a provider key was written into the Envoy config"
