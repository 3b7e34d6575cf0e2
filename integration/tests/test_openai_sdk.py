"""The official OpenAI SDK, pointed at the gateway, streaming and not."""
import json
import time

import openai
import pytest

from harness import TEAM_ABC_KEY, TEAM_XYZ_KEY


def client(gateway, key=TEAM_ABC_KEY, **kw):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, **kw)


def only_request(mock):
    received = mock.requests()
    assert len(received) == 1, received
    return received[0]


def test_chat_completion(gateway, mock):
    resp = client(gateway).chat.completions.create(
        model="default-chat", messages=[{"role": "user", "content": "Hello there"}]
    )
    assert resp.choices[0].message.content
    assert resp.usage.completion_tokens > 0

    got = only_request(mock)
    body = json.loads(got["body"])
    assert body["model"] == "gpt-4o-2024-08-06", "alias rewritten to the upstream model"
    assert body["messages"] == [{"role": "user", "content": "Hello there"}]
    assert got["headers"]["authorization"] == [f"Bearer {gateway.provider_keys['OPENAI_API_KEY']}"]
    assert TEAM_ABC_KEY not in json.dumps(got)


def test_body_bytes_are_preserved_except_model(gateway, mock):
    import base64

    import httpx

    raw = b'{"messages": [{"role": "user", "content": "caf\\u00e9 \\"quoted\\" \xc3\xa9"}],  "model":"default-chat" , "temperature": 0.70}'
    r = httpx.post(f"{gateway.url}/v1/chat/completions", content=raw,
                   headers={"authorization": f"Bearer {TEAM_ABC_KEY}", "content-type": "application/json"})
    assert r.status_code == 200, r.text
    got = only_request(mock)
    sent = base64.b64decode(got["body_base64"])
    assert sent == raw.replace(b'"model":"default-chat"', b'"model":"gpt-4o-2024-08-06"')
    assert got["headers"]["content-length"] == [str(len(sent))]


def test_streaming_chat_completion(gateway, mock):
    stream = client(gateway).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Stream please"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text
    got = only_request(mock)
    assert json.loads(got["body"])["stream"] is True


def test_stream_is_not_buffered(gateway, mock):
    """The first token reaches the client long before the stream ends."""
    c = client(gateway)
    start = time.monotonic()
    stream = c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "slow"}], stream=True,
        extra_headers={"x-mock-tokens": "6", "x-mock-token-delay-ms": "300"},
    )
    arrivals = [time.monotonic() - start for chunk in stream if chunk.choices and chunk.choices[0].delta.content]
    assert len(arrivals) == 6
    assert arrivals[-1] >= 1.4, arrivals  # 5 delays of 300 ms between 6 tokens
    assert arrivals[0] < arrivals[-1] - 1.0, f"first token arrived with the last: {arrivals}"


def test_second_team_and_model_list(gateway, mock):
    models = client(gateway, key=TEAM_XYZ_KEY).models.list()
    ids = sorted(m.id for m in models.data)
    assert ids == ["azure-gpt-4o", "claude-sonnet", "claude-sonnet-private", "default-chat", "default-messages",
                   "gpt-4o", "gpt-4o-mini", "llama-internal"]
    assert mock.requests() == [], "the model list is answered by the gateway"


def test_azure_openai_gets_api_key_and_deployment_path(gateway, mock):
    resp = client(gateway).chat.completions.create(
        model="azure-gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert resp.choices[0].message.content
    got = only_request(mock)
    assert got["path"] == "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
    assert got["headers"]["api-key"] == [gateway.provider_keys["AZURE_OPENAI_API_KEY"]]
    assert "authorization" not in got["headers"]


def test_provider_errors_pass_through(gateway, mock):
    # gpt-4o-mini has no fallback (test_fallback.py covers the models that have one).
    with pytest.raises(openai.RateLimitError) as e:
        client(gateway).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-mock-status": "429"},
        )
    assert e.value.status_code == 429
    assert len(mock.requests()) == 1
