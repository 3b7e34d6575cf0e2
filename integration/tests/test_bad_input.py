"""Bad input: a clear 4xx in OpenAI's error shape, nothing reaches the provider, and the
next good request on the same Envoy still works (the VM is alive)."""
import socket

import httpx
import pytest

from harness import TEAM_ABC_KEY

AUTH = {"authorization": f"Bearer {TEAM_ABC_KEY}", "content-type": "application/json"}
GOOD = {"model": "default-chat", "messages": [{"role": "user", "content": "still alive?"}]}
RUNBOOK_BASE = "https://gateway.internal/docs/runbooks/"


def assert_error(resp_status, body, status, code):
    assert resp_status == status, body
    err = body["error"]
    assert err["code"] == code
    assert err["type"] in ("invalid_request_error", "authentication_error")
    assert err["message"]
    assert err["runbook_url"] == f"{RUNBOOK_BASE}{code}.md"
    assert err["runbook_url"] in err["message"]


def assert_alive(gateway, mock):
    mock.clear()
    r = httpx.post(f"{gateway.url}/v1/chat/completions", json=GOOD, headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    assert len(mock.requests()) == 1


CASES = {
    "no body": dict(content=b"", status=400, code="invalid_request"),
    "invalid json": dict(content=b'{"model": "default-chat", "messages": [', status=400, code="invalid_request"),
    "json array": dict(content=b'[{"model": "default-chat"}]', status=400, code="invalid_request"),
    "json string": dict(content=b'"hello"', status=400, code="invalid_request"),
    "missing model": dict(json={"messages": [{"role": "user", "content": "x"}]}, status=400, code="invalid_request"),
    "model not a string": dict(json={"model": 4, "messages": [{"role": "user", "content": "x"}]}, status=400, code="invalid_request"),
    "missing messages": dict(json={"model": "default-chat"}, status=400, code="invalid_request"),
    "messages not a list": dict(json={"model": "default-chat", "messages": "hi"}, status=400, code="invalid_request"),
    "duplicate model key": dict(content=b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"model":"gpt-4o"}', status=400, code="invalid_request"),
    "invalid utf-8 in body": dict(content=b'{"model":"default-chat","messages":[{"role":"user","content":"\xff\xfe"}]}', status=400, code="invalid_request"),
    "unknown model": dict(json={"model": "gpt-99", "messages": [{"role": "user", "content": "x"}]}, status=404, code="model_not_found"),
    "anthropic model on the openai api": dict(json={"model": "claude-sonnet", "messages": [{"role": "user", "content": "x"}]}, status=400, code="model_api_mismatch"),
    "body over the limit": dict(content=b'{"model":"default-chat","messages":[{"role":"user","content":"' + b"a" * (4 * 1024 * 1024) + b'"}]}', status=413, code="request_too_large"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_body_is_refused_before_the_provider(gateway, mock, name):
    case = dict(CASES[name])
    status, code = case.pop("status"), case.pop("code")
    r = httpx.post(f"{gateway.url}/v1/chat/completions", headers=AUTH, timeout=30, **case)
    assert_error(r.status_code, r.json(), status, code)
    assert r.headers["content-type"] == "application/json"
    assert mock.requests() == [], "the provider received a request it should not have"
    assert_alive(gateway, mock)


def test_body_over_the_limit_without_content_length(gateway, mock):
    """A chunked upload is counted as it arrives."""
    def chunks():
        yield b'{"model":"default-chat","messages":[{"role":"user","content":"'
        for _ in range(80):
            yield b"b" * 65536
        yield b'"}]}'

    r = httpx.post(f"{gateway.url}/v1/chat/completions", headers=AUTH, content=chunks(), timeout=30)
    assert_error(r.status_code, r.json(), 413, "request_too_large")
    assert mock.requests() == []
    assert_alive(gateway, mock)


@pytest.mark.parametrize("method,path,status,code", [
    ("POST", "/v1/embeddings", 404, "unsupported_endpoint"),
    ("POST", "/admin/config", 404, "unsupported_endpoint"),
    ("GET", "/v1/chat/completions", 405, "method_not_allowed"),
    ("DELETE", "/v1/messages", 405, "method_not_allowed"),
])
def test_unserved_paths_and_methods(gateway, mock, method, path, status, code):
    r = httpx.request(method, f"{gateway.url}{path}", headers=AUTH, json=GOOD, timeout=30)
    assert_error(r.status_code, r.json(), status, code)
    assert mock.requests() == []
    assert_alive(gateway, mock)


def raw_request(gateway, head: bytes, body: bytes) -> tuple[int, bytes]:
    """Sends bytes httpx would refuse to send, and reads the status and body."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as s:
        s.sendall(head + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                header, _, rest = data.partition(b"\r\n\r\n")
                length = [l for l in header.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(rest) >= int(length[0].split(b":")[1]):
                    break
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def test_non_utf8_header_bytes(gateway, mock):
    import json

    body = b'{"model":"default-chat","messages":[{"role":"user","content":"x"}]}'
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
        b"Authorization: Bearer " + TEAM_ABC_KEY.encode() + b"\r\n"
        b"X-Project: caf\xe9\xff\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
    )
    status, resp = raw_request(gateway, head, body)
    assert_error(status, json.loads(resp), 400, "invalid_request")
    assert "x-project" in json.loads(resp)["error"]["message"]
    assert mock.requests() == []
    assert_alive(gateway, mock)


def test_non_utf8_key_is_unauthorized_not_a_crash(gateway, mock):
    import json

    body = b'{"model":"default-chat","messages":[{"role":"user","content":"x"}]}'
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
        b"x-api-key: \xc3\x28\xa0\xa1\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
    )
    status, resp = raw_request(gateway, head, body)
    assert status in (400, 401)
    assert json.loads(resp)["error"]["code"] in ("invalid_request", "unauthorized")
    assert mock.requests() == []
    assert_alive(gateway, mock)
