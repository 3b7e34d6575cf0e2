"""What each host call and each part of the genai filter costs Envoy: `scripts/bench --host-calls`.

Two measurements, both as Envoy CPU per 4 KB chat request (from /proc, wrk at 8 connections),
with every Envoy running at once and the rounds interleaved, like run.py's A/B/C:

1. **Per host call.** integration/bench/host-probe repeats one proxy-wasm call N times per
   request; the module at `none:0` is the empty filter (variant B). A call's cost is the slope,
   (CPU at N - CPU at 0) / N. `hold` is the cost of pausing the headers until the body has ended
   (Envoy buffers the body), as the genai filter does to inspect it.
2. **Per part of the filter (ablation).** C as shipped to `default-chat` (a fallback chain: the
   aggregate cluster and the per-attempt upstream filter), the same body to `gpt-4o-mini` (no
   chain), and both again with `"guardrails": {"enabled": false}`; each minus B.

Writes target/bench/host_calls.json; with --doc, the section between `<!-- host-calls:begin -->`
and `<!-- host-calls:end -->` of docs/benchmarks.md. Never fails on timing.
"""
import argparse
import copy
import datetime
import json
import pathlib
import re
import statistics
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run as R  # noqa: E402

PROBE = R.ROOT / "target/wasm32-wasip1/release/host_probe.wasm"
DOC = R.ROOT / "docs/benchmarks.md"
N = 64

# Kind -> what it stands for in the genai filter's host calls (gateway::tests' golden lists).
KINDS = {
    "header_pairs": "get_header_map_pairs (all request headers)",
    "header": "get_header_map_value (one header)",
    "set_header": "replace_header_map_value (a new header)",
    "set_property": "set_property (a new filter-state value)",
    "get_property": "get_property (request.path)",
    "now": "get_current_time_nanoseconds",
    "counter": "increment_metric (counter)",
    "histogram": "record_metric (histogram)",
    "read_body": "get_buffer_bytes (the whole 4 KB body, held)",
    "set_body": "set_buffer_bytes (16 bytes at the start, held)",
}
# How many of each the genai filter makes on the plain chat request of gateway::tests
# (`a_plain_chat_request` without the rate limit calls, as the bench's configuration has none;
# the header removal counts as a header write; the response body's read as a body read).
GENAI_CALLS = {
    "header_pairs": 1, "header": 3, "set_header": 5, "set_property": 7, "now": 3,
    "counter": 4, "histogram": 4, "read_body": 2, "set_body": 1,
}


def probe_config(base: dict, spec: str, port: int, admin_port: int) -> dict:
    cfg = R.variant_config(base, "B", port, admin_port)
    for f in R.hcm_of(cfg)["http_filters"]:
        wasm = f.get("typed_config", {}).get("config")
        if wasm and wasm.get("vm_config", {}).get("vm_id") == "empty":
            wasm["name"] = wasm["root_id"] = wasm["vm_config"]["vm_id"] = "probe"
            wasm["vm_config"]["code"]["local"]["filename"] = str(PROBE)
            wasm["configuration"]["value"] = spec
            return cfg
    raise SystemExit("host_calls: no empty wasm filter in variant B's configuration")


def probe_envoy(base: dict, spec: str, tag: str, wait: bool = False) -> R.Envoy:
    """An Envoy with the probe module at `spec` (`KIND:N`) in variant B's place."""
    return R.Envoy({}, "B", 1, tag=tag, wait=wait,
                   config_of=lambda port, admin: probe_config(base, spec, port, admin))


def with_filter_config(base: dict, edit) -> dict:
    cfg = copy.deepcopy(base)
    for f in R.hcm_of(cfg)["http_filters"]:
        tc = f.get("typed_config", {})
        if "wasm" in tc.get("@type", "").lower():
            j = json.loads(tc["config"]["configuration"]["value"])
            edit(j)
            tc["config"]["configuration"]["value"] = json.dumps(j)
    return cfg


def without_attempt_filter(base: dict) -> dict:
    """C with no per-attempt upstream filter: a chain's first attempt still goes (the gateway
    role prepared it for the first target); apart from the aggregate cluster's own cost."""
    cfg = copy.deepcopy(base)
    for f in R.hcm_of(cfg)["http_filters"]:
        f.get("typed_config", {}).pop("upstream_http_filters", None)
    return cfg


def no_guardrails(j: dict) -> None:
    j["guardrails"] = {"enabled": False}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envoy", required=True)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--doc", action="store_true")
    a = p.parse_args()
    R.ENVOY = a.envoy
    R.OUT.mkdir(parents=True, exist_ok=True)
    # The same 4 KB body to a model with no fallback chain.
    mini = dict(R.WORKLOADS["4k"])
    mini["body"] = mini["body"].replace(b'"default-chat"', b'"gpt-4o-mini"', 1)
    assert mini["body"] != R.WORKLOADS["4k"]["body"]
    R.WORKLOADS["4k-mini"] = mini

    mock = R.Mock()
    base = R.render_base(mock)
    envs: dict[str, R.Envoy] = {}
    try:
        for kind in ["none", *KINDS, "hold"]:
            n = 0 if kind == "none" else (1 if kind == "hold" else N)
            spec = f"{kind}:{n}"
            envs[kind] = probe_envoy(base, spec, tag=f"-probe-{kind}")
        guard_off = with_filter_config(base, no_guardrails)
        envs["C"] = R.Envoy(base, "C", 1, tag="-hc-C", wait=False)
        envs["C-noguard"] = R.Envoy(guard_off, "C", 1, tag="-hc-Cng", wait=False)
        envs["C-noattempt"] = R.Envoy(without_attempt_filter(base), "C", 1, tag="-hc-Cna", wait=False)
        for e in envs.values():
            e.wait_ready()
        # (variant name, Envoy, workload)
        cases = [(k, k, "4k") for k in ["none", *KINDS, "hold"]]
        cases += [("C default-chat", "C", "4k"), ("C gpt-4o-mini", "C", "4k-mini"),
                  ("C default-chat, no attempt filter", "C-noattempt", "4k"),
                  ("C default-chat, guardrails off", "C-noguard", "4k"),
                  ("C gpt-4o-mini, guardrails off", "C-noguard", "4k-mini")]
        for name, env, wl in cases:
            kind = "C" if env.startswith("C") else "B"
            R.check_sample(envs[env].url, kind, wl)
            R.run_wrk(envs[env].url, kind, wl, 8, 2)
        per: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        for rnd in range(a.rounds):
            for name, env, wl in cases:
                e = envs[env]
                kind = "C" if env.startswith("C") else "B"
                c0 = e.cpu_ns()
                r = R.run_wrk(e.url, kind, wl, 8, a.seconds)
                if r["non2xx"] or r["socket_errors"]:
                    raise SystemExit(f"host_calls: {name} had {r['non2xx']} non-2xx, {r['socket_errors']} errors")
                per[name].append((e.cpu_ns() - c0) / 1e3 / r["requests"])
            R.log(f"round {rnd + 1}/{a.rounds}: none {per['none'][-1]:.1f} µs, C {per['C default-chat'][-1]:.1f} µs")
    finally:
        for e in envs.values():
            e.stop()
        mock.stop()

    # Per round against that round's B, then the median: the drift of the machine cancels.
    def minus_b(name: str, div: float = 1.0) -> dict:
        d = [(x - b) / div for x, b in zip(per[name], per["none"])]
        return {"median": statistics.median(d), "min": min(d), "max": max(d)}

    out = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "commit": subprocess.run(["git", "-C", str(R.ROOT), "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True).stdout.strip(),
           "rounds": a.rounds, "seconds": a.seconds, "n": N,
           "b_us": statistics.median(per["none"]),
           "per_call_us": {k: minus_b(k, N) for k in KINDS},
           "hold_us": minus_b("hold"),
           "ablation_us": {name: minus_b(name) for name, env, _ in cases if env.startswith("C")}}
    # read_body and set_body run with the body held: their slope is apart from the hold, which
    # is reported on its own (it is a change in how Envoy forwards, not a call).
    est = sum(GENAI_CALLS[k] * out["per_call_us"][k]["median"] for k in GENAI_CALLS)
    out["genai_host_calls_us"] = est
    (R.OUT / "host_calls.json").write_text(json.dumps(out, indent=1))
    text = render(out)
    print(text)
    if a.doc:
        write_doc(text)


def render(o: dict) -> str:
    rows = []
    for k, label in KINDS.items():
        c = o["per_call_us"][k]
        rows.append(f"| {label} | {c['median']:.2f} | {c['min']:.2f} to {c['max']:.2f} | {GENAI_CALLS.get(k, 0)} |")
    h = o["hold_us"]
    abl = "\n".join(f"| {name} | {v['median']:.0f} | {v['min']:.0f} to {v['max']:.0f} |"
                    for name, v in o["ablation_us"].items())
    return f"""<!-- host-calls:begin -->
## Where the Envoy CPU of a 4 KB request goes (`scripts/bench --host-calls`)

Run of {o['date']} at {o['commit']}: {o['rounds']} interleaved rounds of {o['seconds']:.0f} s per variant,
wrk at 8 connections, one Envoy worker each, Envoy CPU per request from /proc. B (the empty
filter) took {o['b_us']:.0f} µs per request. Each figure is taken against the same round's B, then
the median (min to max over the rounds). Generated by integration/bench/host_calls.py.

**One host call** (integration/bench/host-probe repeats it {o['n']} times per request; cost = slope):

| call | µs per call | rounds | calls per genai request |
| --- | --- | --- | --- |
{chr(10).join(rows)}
| pausing the headers until the body ends (once per request) | {h['median']:.1f} | {h['min']:.1f} to {h['max']:.1f} | 1 |

The genai filter's host calls on a plain chat request (the counts are `gateway::tests`'
golden list without the rate limit descriptors) add up to about **{o['genai_host_calls_us']:.0f} µs**
(the hold apart). A slope below zero is the machine's noise around a call too cheap to see.

**The filter by part** (C variants minus B, µs per request):

| variant | C−B | rounds |
| --- | --- | --- |
{abl}

Reading: the guardrails are the difference between a row and its "guardrails off" twin; the
fallback chain (aggregate cluster, per-attempt upstream filter) is the difference between
`default-chat` and `gpt-4o-mini`, and "no attempt filter" splits it (the chain's first attempt
still goes without the filter, as the gateway role prepared it); what is left with both off is the rest of the filter
(authentication, catalog, body rewrite, usage, metrics, properties), of which the host calls
above are the part Envoy spends outside the VM.
<!-- host-calls:end -->
"""


def write_doc(section: str) -> None:
    text = DOC.read_text()
    if "<!-- host-calls:begin -->" in text:
        text = re.sub(r"<!-- host-calls:begin -->.*?<!-- host-calls:end -->\n", lambda _: section, text, flags=re.S)
    else:
        marker = "<!-- generated by scripts/bench"
        i = text.index(marker)
        text = text[:i] + section + "\n" + text[i:]
    DOC.write_text(text)
    R.log(f"wrote the host-calls section of {DOC.relative_to(R.ROOT)}")


if __name__ == "__main__":
    main()
