"""Real provider transcripts, replayed by the mock behind a real Envoy at several chunkings:
the gateway's token counters must equal shared/fixtures/provider-transcripts/expected-usage.json.
(The usage crate's own tests feed them split at every byte offset, natively.)"""
import json

import httpx
import pytest

from harness import TEAM_ABC_KEY, TEAM_XYZ_KEY, TRANSCRIPTS, envoy_stats

EXPECTED = json.loads((TRANSCRIPTS / "expected-usage.json").read_text()) if TRANSCRIPTS.exists() else {}
FILES = sorted(k for k in EXPECTED if not k.startswith("_"))
TYPES = {"input_tokens": "input", "cached_input_tokens": "cached_input",
         "cache_write_input_tokens": "cache_write", "output_tokens": "output", "reasoning_tokens": "reasoning"}


def test_transcripts_are_there():
    assert TRANSCRIPTS.is_dir(), f"{TRANSCRIPTS} is missing: the clone must sit beside shared/"
    assert len(FILES) >= 14


def route(name: str):
    """(path, model, team key, stat labels) for a transcript."""
    if name.startswith("anthropic-"):
        return "/v1/messages", "claude-sonnet", TEAM_XYZ_KEY, "team=team-xyz;model=claude-sonnet;provider=anthropic"
    if name.startswith("openai-responses-"):
        return "/v1/responses", "gpt-4o", TEAM_ABC_KEY, "team=team-abc;model=gpt-4o;provider=openai"
    return "/v1/chat/completions", "gpt-4o", TEAM_ABC_KEY, "team=team-abc;model=gpt-4o;provider=openai"


def tokens(stats: dict, labels: str, estimated: bool) -> dict:
    flag = "true" if estimated else "false"
    return {t: stats.get(f"genai_tokens_total;{labels};type={t};estimated={flag}", 0) for t in TYPES.values()}


@pytest.mark.parametrize("chunk", [None, 1, 7, 64])
@pytest.mark.parametrize("name", FILES)
def test_transcript_usage_through_envoy(gateway, mock, name, chunk):
    want = EXPECTED[name]
    path, model, key, labels = route(name)
    stream = name.endswith(".sse")
    if path == "/v1/responses":
        body = {"model": model, "input": "Say hello", "stream": stream}
    else:
        body = {"model": model, "max_tokens": 64, "stream": stream, "messages": [{"role": "user", "content": "Say hello"}]}
    headers = {"authorization": f"Bearer {key}", "x-mock-replay": name}
    if chunk:
        headers.update({"x-mock-chunk-bytes": str(chunk), "x-mock-chunk-delay-ms": "0"})

    before = envoy_stats(gateway)
    r = httpx.post(f"{gateway.url}{path}", json=body, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    raw = (TRANSCRIPTS / name).read_bytes()
    if not stream or not path.endswith("/chat/completions"):
        assert r.content == raw, "the response passes through unchanged"
    else:
        # The gateway asked for usage the client did not: exactly the usage-only chunk is gone.
        events = raw.replace(b"\r\n", b"\n").split(b"\n\n")
        usage_only = [e for e in events if b'"choices":[]' in e.replace(b" ", b"") and b'"usage":{' in e.replace(b" ", b"")]
        got_events = r.content.replace(b"\r\n", b"\n").split(b"\n\n")
        assert [e for e in events if e not in usage_only] == got_events
        assert len(usage_only) == (0 if want["estimated"] else 1)
    after = envoy_stats(gateway)

    estimated = want["estimated"]
    got = {t: after_v - before_v for (t, after_v), before_v in
           zip(tokens(after, labels, estimated).items(), tokens(before, labels, estimated).values())}
    if estimated:
        # No usage in the stream: estimated from the prompt and the streamed text, never zero.
        assert got["input"] > 0 and got["output"] > 0, got
        assert tokens(after, labels, False) == tokens(before, labels, False), "nothing counted as reported"
    else:
        assert got == {TYPES[k]: want[k] for k in TYPES}, f"{name} chunk={chunk}"
