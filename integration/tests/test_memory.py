"""Bounded memory per exchange and per VM, through a real Envoy with one worker: hundreds of
concurrent 1 MiB requests and streams, all held open at once (the mock waits before answering
and streams slowly), every one answered in full, the worker's VM never aborted, and its linear
memory (the filter's `genai_vm_memory_bytes` gauge, which only grows, so it is the peak)
under a stated bound.

The exchange keeps a 64 KiB sample of the request and at most what the usage estimator reads
of the output (docs/architecture.md); had it kept the bodies, 300 x 1 MiB would be 300 MiB.

`GENAI_MEMORY_N` sets the number of concurrent exchanges (default 300, a third of them
streams); the longer run documented in docs/benchmarks.md is `GENAI_MEMORY_N=1000`.
"""
import asyncio
import json
import os
import threading
import time

import httpx
import pytest

from harness import TEAM_ABC_KEY, Gateway, envoy_stats

N = int(os.environ.get("GENAI_MEMORY_N", "300"))
MIB = 1 << 20
# What one exchange in flight may keep in the VM, by its caps: the 64 KiB prompt sample, up to
# 64 KiB of output text for the estimator, up to 64 KiB of a held SSE event.
PER_EXCHANGE = 192 * 1024
# The worker VM's linear memory after the load, all included (module data, the tokenizer,
# allocator slack): 96 MiB for the default 300 exchanges; for more, 48 MiB and the caps of each.
# Measured: see docs/benchmarks.md ("Memory under load").
VM_BOUND = max(96 * MIB, 48 * MIB + N * PER_EXCHANGE)
# Requests are sent STAGGER_S apart and each is held by the mock until about HOLD_AFTER_LAST_S
# after the last was sent, so that all are in flight together. No request may wait longer than
# the route's first-byte timeout (60 s, the per-try timeout scripts/render-envoy renders, which
# then retries on the fallback chain): a thousand requests come closer together than three
# hundred.
FIRST_BYTE_TIMEOUT_S = 60
HOLD_AFTER_LAST_S = 12
STAGGER_S = min(0.06, (FIRST_BYTE_TIMEOUT_S - HOLD_AFTER_LAST_S - 8) / N)
HOLD_MS = int((HOLD_AFTER_LAST_S + N * STAGGER_S) * 1000)
SENTENCE = "The quarterly report shows steady growth in the northern region and flat costs. "


def prompt(i: int) -> bytes:
    text = (f"Request {i}. " + SENTENCE * (MIB // len(SENTENCE) + 1))[:MIB]
    return json.dumps({"model": "default-chat", "messages": [{"role": "user", "content": text}]}).encode()


def vm_memory(gw: Gateway) -> float:
    return envoy_stats(gw).get("genai_vm_memory_bytes", 0)


class Sampler(threading.Thread):
    """Polls Envoy's admin while the load runs: the most exchanges in flight at once."""

    def __init__(self, gw: Gateway):
        super().__init__(daemon=True)
        self.gw, self.stop, self.max_active = gw, threading.Event(), 0

    def run(self):
        with httpx.Client(timeout=5) as c:
            while not self.stop.is_set():
                try:
                    text = c.get(f"{self.gw.admin}/stats", params={"filter": "upstream_rq_active$"}).text
                    # default-chat is gpt-4o, whose fallback chain sends its first attempt to
                    # the target cluster of gpt-4o (OpenAI's upstream under the chain's name);
                    # a model without a chain would use the provider's cluster itself.
                    active = sum(int(line.rpartition(" ")[2]) for line in text.splitlines()
                                 if line.startswith(("cluster.openai.upstream_rq_active",
                                                     "cluster.target_gpt-4o.upstream_rq_active")))
                    self.max_active = max(self.max_active, active)
                except httpx.HTTPError:
                    pass
                self.stop.wait(0.2)


async def one(client: httpx.AsyncClient, url: str, i: int) -> tuple[str, bool | str]:
    kind = ("json", "stream", "stream-no-usage")[i % 3]
    body = prompt(i)
    # Sent STAGGER_S apart (a worker busy for seconds with hundreds of bodies at once would
    # time out its own upstream connects), and answered only once the last has been sent, so
    # that all are in flight together: the later a request, the shorter its wait.
    await asyncio.sleep(i * STAGGER_S)
    hold_ms = HOLD_MS - int(i * STAGGER_S * 1000)
    headers = {"authorization": f"Bearer {TEAM_ABC_KEY}", "content-type": "application/json",
               "accept-encoding": "identity", "x-mock-ttft-ms": str(hold_ms)}
    if kind != "json":
        body = body[:-1] + b',"stream":true}'
        # Long output (128 KiB of text), slowly: more than the estimator reads.
        headers.update({"x-mock-tokens": "2000", "x-mock-token-delay-ms": "1",
                        "x-mock-token-text": ("growth " * 9).strip()})
        if kind == "stream-no-usage":
            headers["x-mock-usage"] = "omit"  # the output is estimated from the text kept
    try:
        r = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as e:
        return kind, f"{type(e).__name__}: {e}"
    if r.status_code != 200:
        return kind, f"{r.status_code} {r.text[:200]}"
    if kind == "json":
        return kind, r.json()["usage"]["completion_tokens"] == 8 or r.text[:200]
    text = r.text
    return kind, (text.rstrip().endswith("data: [DONE]") and text.count("growth") == 2000 * 9) or text[-200:]


async def load(gw: Gateway) -> list[tuple[str, bool | str]]:
    limits = httpx.Limits(max_connections=N, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=HOLD_MS / 1000 + 120) as client:
        return await asyncio.gather(*(one(client, f"{gw.url}/v1/chat/completions", i) for i in range(N)))


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(workdir=tmp_path_factory.mktemp("memory"), concurrency=1, mock_args=["--no-record"]).start()
    yield g
    g.stop()


def test_hundreds_of_concurrent_large_exchanges_in_bounded_vm_memory(gw):
    # Warm: the tokenizer loads on the tick after configuration.
    deadline = time.monotonic() + 30
    while "tokenizer O200k loaded" not in gw.log_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert httpx.post(f"{gw.url}/v1/chat/completions", content=prompt(0), timeout=30,
                      headers={"authorization": f"Bearer {TEAM_ABC_KEY}"}).status_code == 200
    before = vm_memory(gw)
    assert before > 0, "the filter reports its VM's memory"

    sampler = Sampler(gw)
    sampler.start()
    start = time.monotonic()
    results = asyncio.run(load(gw))
    took = time.monotonic() - start
    sampler.stop.set()
    sampler.join()

    after = vm_memory(gw)
    failed = [(k, ok) for k, ok in results if ok is not True]
    stats = httpx.get(f"{gw.admin}/stats", params={"filter": "^wasm\\."}).text
    with open(f"/proc/{gw.proc.pid}/status") as f:
        hwm = next(line for line in f if line.startswith("VmHWM")).split()[1]
    print(f"\nmemory: {N} exchanges in {took:.1f} s, at most {sampler.max_active} at the provider at once; "
          f"VM linear memory {before / MIB:.1f} MiB before, {after / MIB:.1f} MiB after "
          f"({(after - before) / N / 1024:.0f} KiB per exchange); "
          f"Envoy's peak RSS {int(hwm) / 1024:.0f} MiB")
    assert not failed, f"{len(failed)} of {N} exchanges failed: {failed[:5]}"
    # Hundreds were in the VM at once (each waits for its answer until the last has arrived).
    assert sampler.max_active >= N // 2, sampler.max_active
    assert after <= VM_BOUND, f"VM memory {after / MIB:.1f} MiB over the bound {VM_BOUND / MIB:.0f} MiB"
    assert after - before <= N * PER_EXCHANGE, f"{(after - before) / N / 1024:.0f} KiB per exchange"
    # The VM never aborted (a trap or an allocation failure would reload it: FAIL_RELOAD).
    assert "vm_reload" not in stats or all(line.endswith(" 0") for line in stats.splitlines() if "vm_reload" in line), stats
    assert "wasm_fail_stream" not in gw.log_text()
    # The stream without usage was estimated, the others exact.
    s = envoy_stats(gw)
    key = "genai_tokens_total;team=team-abc;model=gpt-4o;provider=openai;type=output;estimated={}"
    assert s.get(key.format("true"), 0) > 0
