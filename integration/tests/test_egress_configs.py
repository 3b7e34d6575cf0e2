"""Egress: the shipped configurations for the real providers (TLS with SNI, the system trust
store, host rewrite, limits, outlier detection, stream timeouts) are accepted by Envoy, and
the same cluster template really speaks TLS to a provider stand-in here (the internet is not
reachable from tests)."""
import json
import pathlib
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from deployment import chat, make_certs, oldest_envoy, start_gateway
from harness import DEMO_CONFIG, ROOT, TEAM_ABC_KEY, WASM, envoy_binary

PRODUCTION = ROOT / "envoy/egress/envoy.yaml"
DOCKER = ROOT / "envoy/docker/envoy.yaml"
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"
DUMMY_KEYS = {"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "y", "AZURE_OPENAI_API_KEY": "z",
              "ANTHROPIC_PRIVATE_API_KEY": "w", "SELF_HOSTED_API_KEY": "v", "PATH": "/usr/bin:/bin"}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def render(tmp_path: pathlib.Path, *args: str) -> pathlib.Path:
    out = tmp_path / f"envoy-{len(list(tmp_path.glob('envoy-*')))}.yaml"
    subprocess.run([str(ROOT / "scripts/render-envoy"), str(out), *args], check=True)
    return out


def localized(config: pathlib.Path, certs: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    """A shipped config with its in-container paths pointed at this machine's module and certificates."""
    text = config.read_text().replace("/etc/envoy/genai_filter.wasm", str(WASM)).replace("/etc/envoy/certs", str(certs))
    out = tmp_path / f"local-{config.parent.name}-{config.name}"
    out.write_text(text)
    return out


def validate(binary: str, config: pathlib.Path) -> None:
    out = subprocess.run([binary, "--mode", "validate", "-c", str(config), "--disable-hot-restart"],
                         capture_output=True, text=True, env=DUMMY_KEYS, timeout=120)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert "genai filter configured" in out.stdout + out.stderr


# Each validation compiles the module (seconds each), so: the two shipped files on the
# tested Envoy, the production one on the oldest. The local rendering is validated by
# test_configuration.py, its mTLS variant runs in test_tls.py and test_envoy_versions.py.
SHIPPED = {"1.40.0": [PRODUCTION, DOCKER], "1.36.2": [PRODUCTION]}


def test_production_config_is_current(tmp_path):
    fresh = render(tmp_path, "--production")
    assert PRODUCTION.read_text() == fresh.read_text(), "run scripts/render-envoy --production envoy/egress/envoy.yaml"


@pytest.mark.parametrize("version", sorted(SHIPPED))
def test_shipped_configs_validate(tmp_path, certs, version):
    binary = envoy_binary() if version == "1.40.0" else oldest_envoy()
    for config in SHIPPED[version]:
        validate(binary, localized(config, certs, tmp_path))


def test_production_egress_is_tls_to_the_real_providers():
    cfg = yaml.safe_load(PRODUCTION.read_text())
    providers = json.loads((ROOT / "envoy/egress/providers.json").read_text())
    everything = {c["name"]: c for c in cfg["static_resources"]["clusters"]}
    upstreams = {p.get("upstream", p["name"]) for p in json.loads(DEMO_CONFIG.read_text())["providers"]}
    clusters = {n: c for n, c in everything.items() if n in upstreams}
    assert set(clusters) == upstreams
    # The rest are fallback chains: aggregates of target clusters, each its provider's
    # cluster (TLS and all) under another name; and the rate limit service's clusters (the
    # fleet's own service, not a provider).
    for name, c in everything.items():
        if name.startswith("target:"):
            endpoint = c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
            model = endpoint["metadata"]["filter_metadata"]["genai"]["target"]
            assert name == f"target:{model}"
            assert c["transport_socket"]["typed_config"]["@type"].endswith("UpstreamTlsContext")
        elif name in ("genai_ratelimit", "genai_ratelimit_http"):
            pass
        elif name not in upstreams:
            assert c["cluster_type"]["name"] == "envoy.clusters.aggregate", name
    hosts = set()
    for name, c in clusters.items():
        host = providers[name].removeprefix("https://")
        hosts.add(host)
        addr = c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
        assert (addr["address"], addr["port_value"]) == (host, 443)
        tls = c["transport_socket"]["typed_config"]
        assert tls["@type"].endswith("UpstreamTlsContext")
        assert tls["sni"] == host, "SNI names the provider"
        v = tls["common_tls_context"]["validation_context"]
        assert v["trusted_ca"]["filename"] == SYSTEM_CA
        assert v["match_typed_subject_alt_names"] == [{"san_type": "DNS", "matcher": {"exact": host}}]
        assert c["circuit_breakers"]["thresholds"][0]["max_connections"] > 0
        assert c["outlier_detection"]["consecutive_local_origin_failure"] == 5
    assert {"api.openai.com", "api.anthropic.com"} <= hosts
    assert any(h.endswith(".openai.azure.com") for h in hosts)

    listeners = {lst["name"]: lst for lst in cfg["static_resources"]["listeners"]}
    assert listeners["genai_gateway"]["address"]["socket_address"]["address"] == "127.0.0.1", \
        "plain HTTP stays on loopback in production"
    assert listeners["genai_gateway_mtls"]["address"]["socket_address"]["address"] == "0.0.0.0"
    assert cfg["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    hcm = listeners["genai_gateway_mtls"]["filter_chains"][0]["filters"][0]["typed_config"]
    for r in hcm["route_config"]["virtual_hosts"][0]["routes"]:
        if r["route"]["cluster"] == "genai_ratelimit_http":
            continue  # GET /v1/gateway/usage, answered by the rate limit service
        assert r["route"]["auto_host_rewrite"] is True
        assert float(r["route"]["timeout"].rstrip("s")) >= 300 and float(r["route"]["idle_timeout"].rstrip("s")) >= 300


class StubProvider:
    """A TLS provider stand-in: records the SNI it was asked for and every request."""

    def __init__(self, cert: pathlib.Path, key: pathlib.Path):
        self.sni: list[str | None] = []
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                stub.requests.append({"path": self.path, "body": body,
                                      "headers": {k.lower(): v for k, v in self.headers.items()}})
                reply = json.dumps({
                    "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": "gpt-4o-2024-08-06",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "over TLS"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                }).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        ctx.sni_callback = lambda sock, name, c: stub.sni.append(name)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
        self.server.handle_error = lambda *a: None  # refused handshakes are the point of one test
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def test_tls_egress_against_a_local_provider(tmp_path, certs):
    """The production cluster template, pointed at a local TLS provider whose certificate
    (gen-certs' gateway.crt) names localhost and 127.0.0.1 as an IP address only."""
    stub = StubProvider(certs / "gateway.crt", certs / "gateway.key")
    gw = start_gateway(tmp_path / "gw", render_args=[
        "--upstream", f"openai=https://localhost:{stub.port}",
        # The certificate has 127.0.0.1 as an IP SAN, not as the DNS name Envoy checks for.
        "--upstream", f"anthropic=https://127.0.0.1:{stub.port}",
        "--upstream-ca", str(certs / "ca.crt")])
    try:
        r = chat(gw.url, TEAM_ABC_KEY, model="default-chat")
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "over TLS"
        [got] = stub.requests
        assert stub.sni[0] == "localhost", "SNI names the provider"
        assert got["headers"]["host"] == "localhost", "auto_host_rewrite: the provider's own host name"
        assert got["headers"]["authorization"] == f"Bearer {gw.provider_keys['OPENAI_API_KEY']}"
        assert json.loads(got["body"])["model"] == "gpt-4o-2024-08-06"
        assert gw.mock.requests() == [], "the openai upstream no longer goes to the mock"

        r = gw_post_messages(gw)
        assert r.status_code == 503 and r.headers["x-genai-error-code"] == "upstream_unavailable", r.text
        assert len(stub.requests) == 1, "a provider whose certificate does not match gets no request"
        assert "CERTIFICATE_VERIFY_FAILED" in r.json()["error"]["message"] or "TLS" in r.json()["error"]["message"]
    finally:
        gw.stop()
        stub.stop()


def gw_post_messages(gw):
    import httpx

    return httpx.post(f"{gw.url}/v1/messages", headers={"x-api-key": TEAM_ABC_KEY}, timeout=15,
                      json={"model": "claude-sonnet", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
