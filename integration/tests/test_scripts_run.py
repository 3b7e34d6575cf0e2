"""scripts/run, as the README's quick start uses it: up, the reference snippet streams, Ctrl-C stops it."""
import os
import signal
import subprocess
import sys
import time

import httpx

from harness import ROOT, free_port, wait_until
from test_reference_snippet import SNIPPET


def test_scripts_run_serves_the_demo_and_stops_on_ctrl_c(tmp_path):
    listen, admin, mock, tls = free_port(), free_port(), free_port(), free_port()
    env = dict(os.environ, GENAI_LISTEN=f"127.0.0.1:{listen}", GENAI_ADMIN=f"127.0.0.1:{admin}",
               GENAI_MOCK=f"127.0.0.1:{mock}", GENAI_TLS_LISTEN=f"127.0.0.1:{tls}")
    for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY"):
        env.pop(k, None)
    out = (tmp_path / "run.out").open("wb")
    proc = subprocess.Popen([str(ROOT / "scripts/run")], stdout=out, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        wait_until(lambda: "Press Ctrl-C to stop." in (tmp_path / "run.out").read_text(), 300, "scripts/run")
        snippet = SNIPPET.format(url=f"http://127.0.0.1:{listen}")
        got = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60)
        assert got.returncode == 0, got.stderr
        assert '"object":"chat.completion.chunk"' in got.stdout

        [received] = httpx.get(f"http://127.0.0.1:{mock}/__mock/requests").json()
        auth = received["headers"]["authorization"][0]
        assert auth.startswith("Bearer demo-openai-"), "a per-run demo provider key"
        assert "team-abc-key-xxxxx" not in str(received)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
        code = proc.wait(30)
    text = (tmp_path / "run.out").read_text()
    assert code in (0, 130), text[-2000:]
    assert "stopping" in text
    time.sleep(0.5)
    for port in (listen, mock):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            raise AssertionError(f"port {port} still answers after Ctrl-C")
        except httpx.ConnectError:
            pass
