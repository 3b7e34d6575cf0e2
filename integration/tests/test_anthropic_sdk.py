"""The official Anthropic SDK, pointed at the gateway, streaming and not."""
import json

import anthropic

from harness import TEAM_XYZ_KEY


def client(gateway):
    return anthropic.Anthropic(base_url=gateway.url, api_key=TEAM_XYZ_KEY, max_retries=0)


def test_message(gateway, mock):
    c = client(gateway)
    msg = c.messages.create(
        model="default-messages", max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
    )
    assert msg.content[0].text
    assert msg.usage.output_tokens > 0
    [got] = mock.requests()
    assert got["path"] == "/v1/messages"
    assert json.loads(got["body"])["model"] == "claude-sonnet-4-5-20250929"
    assert got["headers"]["x-api-key"] == [gateway.provider_keys["ANTHROPIC_API_KEY"]]
    # The SDK's own version is kept; the provider's configured one fills in only when absent.
    assert got["headers"]["anthropic-version"] == [c.default_headers["anthropic-version"]]
    assert TEAM_XYZ_KEY not in json.dumps(got)
    assert "authorization" not in got["headers"]


def test_streaming_message(gateway, mock):
    with client(gateway).messages.stream(
        model="claude-sonnet", max_tokens=64, messages=[{"role": "user", "content": "Stream"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text
    assert final.usage.output_tokens > 0
    [got] = mock.requests()
    assert json.loads(got["body"])["stream"] is True


def test_anthropic_version_filled_in_when_absent(gateway, mock):
    import httpx

    r = httpx.post(f"{gateway.url}/v1/messages", headers={"x-api-key": TEAM_XYZ_KEY},
                   json={"model": "default-messages", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200, r.text
    [got] = mock.requests()
    assert got["headers"]["anthropic-version"] == ["2023-06-01"]
