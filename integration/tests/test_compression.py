"""Usage that survives compression, through a real Envoy, with the official SDKs and their
default headers (httpx asks for gzip and deflate). The mock compresses as providers do
(`x-mock-compress`, integration/mock-provider/src/reshape.rs):

- `when-asked`: the gateway asks every provider for `accept-encoding: identity`, so it is
  never compressed, and the usage is exact; the client still gets the gzip it asked for;
- `gzip` (compressed whatever was asked): Envoy's decompressor decodes it before the filter
  reads it: exact usage all the same;
- `deflate` (an encoding the shipped config does not decode): counted as estimated, never 0.
"""
import gzip
import time

import anthropic
import httpx
import openai
import pytest

from harness import TEAM_ABC_KEY, TEAM_XYZ_KEY, Gateway, envoy_stats

MSGS = [{"role": "user", "content": "Summarize this quarter's earnings report, please."}]
ABC = "team=team-abc;model=gpt-4o;provider=openai"
XYZ = "team=team-xyz;model=claude-sonnet;provider=anthropic"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(workdir=tmp_path_factory.mktemp("compression")).start()
    yield g
    g.stop()


def tokens(stats: dict, labels: str, kind: str, estimated: bool) -> float:
    return stats.get(f"genai_tokens_total;{labels};type={kind};estimated={'true' if estimated else 'false'}", 0)


def delta(before: dict, after: dict, labels: str, estimated: bool) -> tuple[float, float]:
    return tuple(tokens(after, labels, k, estimated) - tokens(before, labels, k, estimated) for k in ("input", "output"))


@pytest.mark.parametrize("mode", ["when-asked", "gzip"])
def test_openai_sdk_usage_is_exact(gw, mode):
    oai = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=TEAM_ABC_KEY, max_retries=0)
    h = {"x-mock-compress": mode, "x-mock-tokens": "40"}
    gw.mock.clear()
    before = envoy_stats(gw)
    raw = oai.chat.completions.with_raw_response.create(model="default-chat", messages=MSGS, extra_headers=h)
    r = raw.parse()
    # The client asked for gzip (httpx's default) and gets it, decoded by its SDK.
    assert raw.headers.get("content-encoding") == "gzip"
    chunks = list(oai.chat.completions.create(model="default-chat", messages=MSGS, stream=True,
                                              stream_options={"include_usage": True}, extra_headers=h))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    u2 = chunks[-1].usage
    # The gateway asked for usage the client did not: it is removed, compressed or not.
    hidden = list(oai.chat.completions.create(model="default-chat", messages=MSGS, stream=True, extra_headers=h))
    assert hidden and all(c.usage is None and c.choices for c in hidden)
    after = envoy_stats(gw)
    want_in = r.usage.prompt_tokens + u2.prompt_tokens + r.usage.prompt_tokens
    want_out = r.usage.completion_tokens + u2.completion_tokens + r.usage.completion_tokens
    assert delta(before, after, ABC, False) == (want_in, want_out)
    assert delta(before, after, ABC, True) == (0, 0), "nothing estimated: every usage was read"
    seen = gw.mock.requests()
    assert len(seen) == 3
    assert all(s["headers"]["accept-encoding"] == ["identity"] for s in seen), "the provider is asked for identity"


@pytest.mark.parametrize("mode", ["when-asked", "gzip"])
def test_anthropic_sdk_usage_is_exact(gw, mode):
    ant = anthropic.Anthropic(base_url=gw.url, api_key=TEAM_XYZ_KEY, max_retries=0)
    h = {"x-mock-compress": mode}
    before = envoy_stats(gw)
    m = ant.messages.create(model="claude-sonnet", max_tokens=64, messages=MSGS, extra_headers=h)
    with ant.messages.stream(model="claude-sonnet", max_tokens=64, messages=MSGS, extra_headers=h) as s:
        assert "".join(s.text_stream)
        m2 = s.get_final_message()
    after = envoy_stats(gw)
    want = (m.usage.input_tokens + m2.usage.input_tokens, m.usage.output_tokens + m2.usage.output_tokens)
    assert delta(before, after, XYZ, False) == want
    assert delta(before, after, XYZ, True) == (0, 0)


def test_an_encoding_envoy_does_not_decode_is_estimated_never_zero(gw):
    oai = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=TEAM_ABC_KEY, max_retries=0)
    before = envoy_stats(gw)
    r = oai.chat.completions.create(model="default-chat", messages=MSGS,
                                    extra_headers={"x-mock-compress": "deflate", "x-mock-tokens": "40"})
    assert r.choices[0].message.content, "the client still reads the answer (httpx decodes deflate)"
    text = "".join(c.choices[0].delta.content or "" for c in oai.chat.completions.create(
        model="default-chat", messages=MSGS, stream=True,
        extra_headers={"x-mock-compress": "deflate", "x-mock-tokens": "40"}) if c.choices)
    assert text
    after = envoy_stats(gw)
    est_in, est_out = delta(before, after, ABC, True)
    assert est_in > 0 and est_out > 0, "unreadable usage is estimated, never counted as zero"
    assert delta(before, after, ABC, False) == (0, 0)


def test_compressed_streams_are_not_held_back(gw):
    """Each event reaches the client as it is made, through the compressor (the client asks
    for gzip) and through the decompressor (the provider compresses anyway)."""
    for mode in ["when-asked", "gzip"]:
        headers = {"authorization": f"Bearer {TEAM_ABC_KEY}", "accept-encoding": "gzip",
                   "x-mock-compress": mode, "x-mock-tokens": "20", "x-mock-token-delay-ms": "100"}
        body = {"model": "gpt-4o", "stream": True, "messages": MSGS}
        start = time.monotonic()
        arrivals, raw = [], b""
        with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30) as r:
            assert r.status_code == 200
            assert r.headers["content-encoding"] == "gzip"
            for piece in r.iter_raw():
                raw += piece
                arrivals.append((time.monotonic() - start, len(raw)))
        total = time.monotonic() - start
        assert total >= 1.9, total  # 20 tokens, 100 ms apart
        text = gzip.decompress(raw).decode()
        assert text.count("data: ") >= 21 and text.rstrip().endswith("data: [DONE]")
        # The first bytes came at the first event, not at the end.
        assert arrivals[0][0] < total / 2, (mode, arrivals[:3], total)
        assert len(arrivals) >= 10, f"{mode}: {len(arrivals)} pieces: the stream came in bursts"


def test_a_compressed_request_body_is_refused(gw):
    gw.mock.clear()
    body = gzip.compress(b'{"model":"gpt-4o","messages":[{"role":"user","content":"Project Bluebird"}]}')
    r = httpx.post(f"{gw.url}/v1/chat/completions", content=body, timeout=10,
                   headers={"authorization": f"Bearer {TEAM_ABC_KEY}", "content-type": "application/json",
                            "content-encoding": "gzip"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_request"
    assert "uncompressed" in r.json()["error"]["message"]
    assert gw.mock.requests() == [], "nothing reached the provider"
