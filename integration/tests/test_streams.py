"""Streams are never held back: an upstream that never ends an SSE event with a blank line
(or sends `id:` lines in its place) still reaches the client as it streams, byte for byte,
while the gateway follows it (strip mode, where the forced usage chunk would be removed)."""
import time

import httpx
import pytest

from harness import TEAM_ABC_KEY, envoy_stats

TOKENS = 20


def stream(gw, framing: str, **extra):
    headers = {"authorization": f"Bearer {TEAM_ABC_KEY}", "accept-encoding": "identity", "x-mock-sse-framing": framing,
               "x-mock-tokens": str(TOKENS), "x-mock-token-delay-ms": "100", **extra}
    # The client does not ask for usage: the gateway forces it, and follows the stream in
    # strip mode (holding back an unfinished event while it could still be the usage chunk).
    body = {"model": "default-chat", "stream": True, "messages": [{"role": "user", "content": "Stream please"}]}
    start = time.monotonic()
    arrivals, raw = [], b""
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30) as r:
        assert r.status_code == 200
        for piece in r.iter_raw():
            raw += piece
            arrivals.append(time.monotonic() - start)
    return raw, arrivals, time.monotonic() - start


@pytest.mark.parametrize("framing", ["no-blank-lines", "id-lines"])
def test_a_stream_without_event_ends_reaches_the_client_as_it_comes(gateway, mock, framing):
    before = envoy_stats(gateway)
    raw, arrivals, total = stream(gateway, framing)
    text = raw.decode()
    assert total >= 1.9, total
    # Everything the upstream sent, unchanged: every token, the usage it was asked for (the
    # gateway cannot cut it out of an event that never ends), and the end.
    lines = [l for l in text.split("\n") if l]
    data = [l for l in lines if l.startswith("data: ")]
    # the role chunk, the tokens, the finish chunk, the usage chunk, [DONE]
    assert len(data) == TOKENS + 4, data[-3:]
    assert data[-1] == "data: [DONE]" and '"usage":{' in data[-2]
    if framing == "id-lines":
        assert [l for l in lines if l.startswith("id: ")][-1] == f"id: {TOKENS + 4}"
    else:
        assert "\n\n" not in text
    # ... as it came: not held back until the end.
    assert arrivals[0] < total / 2, (arrivals[:3], total)
    assert sum(1 for t in arrivals if t < total / 2) >= 5, "the first half of the stream arrived in the first half"
    [received] = mock.requests()
    assert received["headers"]["x-mock-sse-framing"] == [framing]
    # When the endless event ends, its lines are read one by one: the usage it reported counts.
    after = envoy_stats(gateway)
    key = "genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type={};estimated=false"
    assert after.get(key.format("output"), 0) - before.get(key.format("output"), 0) == TOKENS


def test_a_well_framed_stream_is_not_held_back_either(gateway, mock):
    raw, arrivals, total = stream(gateway, "standard")
    text = raw.decode()
    assert "\"usage\":{" not in text, "the forced usage chunk is removed"
    assert text.rstrip().endswith("data: [DONE]")
    assert arrivals[0] < total / 2 and len(arrivals) >= TOKENS // 2
