"""The Wasm filter's failure policy, with a real trap: a test build of the module (cargo
feature `test-trap`, never in release builds) panics on `x-genai-test-trap: 1`, which kills
its VM. One Envoy worker (concurrency 1), so every request meets that VM.

What the shipped FAIL_RELOAD does: the trapping request is refused (503, details
wasm_fail_stream, code gateway_unavailable), so are requests in the short reload backoff, never forwarded unscanned;
then a fresh VM serves again. FAIL_CLOSED for comparison: the worker stays dead."""
import time

import httpx
import pytest

from deployment import OLDEST_ENVOY, chat, oldest_envoy, start_gateway, trap_module
from harness import ROOT, TEAM_ABC_KEY, WASM, access_log_entries, wait_until

TRAP = {"x-genai-test-trap": "1"}


@pytest.fixture(scope="module")
def trap_wasm():
    return trap_module()


def stat(gw, name: str) -> int:
    for line in httpx.get(f"{gw.admin}/stats", params={"filter": f"^{name}$"}).text.splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    raise AssertionError(f"no stat {name}")


def trap_and_check_refused(gw) -> None:
    ok = chat(gw.url, TEAM_ABC_KEY)
    assert ok.status_code == 200, ok.text
    gw.mock.clear()

    r = chat(gw.url, TEAM_ABC_KEY, headers=TRAP)
    assert r.status_code == 503, r.text
    # Envoy's own refusal, mapped to the API's error shape (scripts/render-envoy ENVOY_ERRORS).
    assert r.headers["x-genai-error-code"] == "gateway_unavailable"
    assert r.json()["error"]["code"] == "gateway_unavailable"
    assert r.json()["error"]["runbook_url"].endswith("/gateway_unavailable.md")
    assert gw.mock.requests() == [], "the request the VM died on must not reach the provider"
    wait_until(lambda: "genai filter panicked" in gw.log_text(), 5, "the panic in Envoy's log")
    assert "test trap: request header x-genai-test-trap: 1" in gw.log_text()


@pytest.mark.parametrize("envoy", ["1.40.0", OLDEST_ENVOY])
def test_fail_reload_refuses_then_recovers(tmp_path, trap_wasm, envoy):
    binary = oldest_envoy() if envoy == OLDEST_ENVOY else None
    gw = start_gateway(tmp_path / "gw", envoy=binary, concurrency=1,
                       render_args=["--wasm", str(trap_wasm), "--failure-policy", "FAIL_RELOAD"])
    try:
        trap_and_check_refused(gw)

        # Until the backoff lets Envoy build a new VM, requests are refused, not passed on.
        statuses = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            statuses.append(chat(gw.url, TEAM_ABC_KEY).status_code)
            if statuses[-1] == 200:
                break
            time.sleep(0.1)
        assert statuses[-1] == 200, f"no recovery in 20 s: {statuses}"
        assert set(statuses[:-1]) <= {503}, statuses
        received = gw.mock.requests()
        assert len(received) == 1, "only the request after the reload reached the provider"
        assert '"model":"gpt-4o-2024-08-06"' in received[0]["body"].replace(" ", ""), \
            "the new VM is configured: it rewrote the alias"
        assert stat(gw, "wasm.genai.vm_reload_success") >= 1
        details = [e["details"] for e in access_log_entries(gw)]
        assert "wasm_fail_stream" in details

        # A second trap is survived too; on /v1/messages the refusal is in Anthropic's shape.
        gw.mock.clear()
        r = httpx.post(f"{gw.url}/v1/messages", headers={"x-api-key": TEAM_ABC_KEY, **TRAP}, timeout=30,
                       json={"model": "claude-sonnet", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 503, r.text
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "api_error"
        assert r.json()["error"]["details"] == {"error_code": "gateway_unavailable"}
        wait_until(lambda: chat(gw.url, TEAM_ABC_KEY).status_code == 200, 20, "the second recovery")
        assert all(TRAP_HEADER not in r["headers"] for r in gw.mock.requests())
    finally:
        gw.stop()


TRAP_HEADER = "x-genai-test-trap"


def test_fail_closed_keeps_the_worker_down(tmp_path, trap_wasm):
    gw = start_gateway(tmp_path / "gw", concurrency=1,
                       render_args=["--wasm", str(trap_wasm), "--failure-policy", "FAIL_CLOSED"])
    try:
        trap_and_check_refused(gw)
        statuses = []
        for _ in range(15):  # well past the 1 s FAIL_RELOAD backoff
            statuses.append(chat(gw.url, TEAM_ABC_KEY).status_code)
            time.sleep(0.2)
        assert set(statuses) == {503}, statuses
        assert gw.mock.requests() == []
        assert stat(gw, "wasm.genai.vm_reload_success") == 0
    finally:
        gw.stop()


def test_fail_open_would_skip_the_filter(tmp_path, trap_wasm):
    """Why FAIL_OPEN is not offered: after the trap Envoy runs without the filter. Only the
    absence of a catch-all route keeps the request from a provider (502 upstream_not_routed)."""
    gw = start_gateway(tmp_path / "gw", concurrency=1, render_args=["--wasm", str(trap_wasm)],
                       patch=lambda t: t.replace("failure_policy: FAIL_RELOAD", "failure_policy: FAIL_OPEN"))
    try:
        trap_and_check_refused(gw)
        r = chat(gw.url, "not-a-key-at-all")
        assert r.status_code == 502 and r.headers["x-genai-error-code"] == "upstream_not_routed", \
            "an unauthenticated request got past the (dead) filter"
        assert gw.mock.requests() == []
    finally:
        gw.stop()


def test_release_module_has_no_trap(gateway, mock):
    """Release builds never contain the trap: the marker is an ordinary, stripped header."""
    assert b"test trap" not in WASM.read_bytes()
    assert b"x-genai-test-trap" not in WASM.read_bytes()
    r = chat(gateway.url, TEAM_ABC_KEY, headers=TRAP)
    assert r.status_code == 200, r.text
    [received] = mock.requests()
    assert TRAP_HEADER not in received["headers"]


def test_shipped_policy_is_fail_reload():
    import yaml

    for path in (ROOT / "envoy/docker/envoy.yaml", ROOT / "envoy/egress/envoy.yaml"):
        cfg = yaml.safe_load(path.read_text())
        hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        wasm = next(f for f in hcm["http_filters"] if f["name"] == "genai")
        assert wasm["typed_config"]["config"]["failure_policy"] == "FAIL_RELOAD", path
