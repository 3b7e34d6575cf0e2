"""The filter replaces only the part of the request body that changed (Envoy's
proxy_set_buffer_bytes with start 0 drains that many bytes and puts the new ones in their
place), on both ends of the version matrix: the provider gets exactly the body it should,
byte for byte, with a content-length that matches it."""
import base64
import json

import httpx
import pytest

from deployment import oldest_envoy, start_gateway
from harness import TEAM_ABC_KEY


@pytest.fixture(scope="module", params=["1.40", "1.36"])
def any_gateway(request, tmp_path_factory):
    envoy = oldest_envoy() if request.param == "1.36" else None
    gw = start_gateway(tmp_path_factory.mktemp(f"body-edits-{request.param}"), envoy=envoy)
    yield gw
    gw.stop()


def send(gw, body: bytes, **headers):
    gw.mock.clear()
    r = httpx.post(f"{gw.url}/v1/chat/completions", content=body, timeout=60,
                   headers={"authorization": f"Bearer {TEAM_ABC_KEY}", "content-type": "application/json",
                            **headers})
    assert r.status_code == 200, r.text
    [got] = gw.mock.requests()
    return base64.b64decode(got["body_base64"]), got["headers"]


def big_body(stream: bool, size: int = 1 << 20) -> bytes:
    text = ("The quarter closed with revenue up twelve percent year on year. " * (size // 64 + 1))[:size]
    tail = ',"stream":true' if stream else ""
    return ('{"model":"default-chat","messages":[{"role":"user","content":"%s"}],"temperature":0.70%s}'
            % (text, tail)).encode()


@pytest.mark.parametrize("size", [64, 1 << 20])
def test_only_the_model_is_rewritten(any_gateway, size):
    body = big_body(False, size)
    got, headers = send(any_gateway, body)
    assert got == body.replace(b'"model":"default-chat"', b'"model":"gpt-4o-2024-08-06"', 1)
    assert headers["content-length"] == [str(len(got))]
    assert headers["accept-encoding"] == ["identity"]


def test_forced_usage_and_model_edit_at_the_start(any_gateway):
    body = big_body(True)
    got, headers = send(any_gateway, body, **{"accept-encoding": "gzip, br"})
    want = b'{"stream_options":{"include_usage":true},' + body[1:].replace(
        b'"model":"default-chat"', b'"model":"gpt-4o-2024-08-06"', 1)
    assert got == want
    assert headers["content-length"] == [str(len(got))]
    assert headers["accept-encoding"] == ["identity"], "the provider is never asked to compress"


def test_an_edit_at_the_end_replaces_the_rest(any_gateway):
    """A redaction in the last message: everything from the model to it changes."""
    text = "word " * 50_000
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text},
                                                        {"role": "user", "content": "mail me: jane@example.com"}]},
                      separators=(",", ":")).encode()
    got, headers = send(any_gateway, body)
    assert b"jane@example.com" not in got
    assert got.startswith(b'{"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"word word')
    assert got.endswith(b'"}]}') and len(got) - len(body) < 100
    assert headers["content-length"] == [str(len(got))]


def test_an_unedited_body_is_left_alone(any_gateway):
    body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"as it is"}],"temperature":0.70}'
    got, headers = send(any_gateway, body)
    assert got == body
    assert headers["content-length"] == [str(len(body))]
