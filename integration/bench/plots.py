"""The bench's pictures, drawn with matplotlib (off-screen) from the figures a run writes:

- docs/images/bench-latency.png: the latency distributions of A (bare Envoy), B (the empty wasm
  VM) and C (the genai filter) for each workload: oha's percentiles at a fixed rate (4 KB,
  400 KB) and every time-to-first-token sample (500 tokens in one burst; tokens 5 ms apart);
- docs/images/bench-cpu.png: where the CPU of a request goes: Envoy's CPU per 4 KB request by
  binary (perf: Envoy itself and V8's runtime, the code V8 generated from the module, the
  kernel), and the filter's instructions by crate (callgrind) for a 4 KB inspection and for one
  streamed chunk, beside the same figures of the run before issue 10
  (docs/data/bench-before-2026-11-26.json).

Nothing is drawn that the run did not measure: a panel without data is left out, and
draw_all returns only the pictures it drew.
"""
from __future__ import annotations

import json
import math
import pathlib
import statistics

BEFORE = "docs/data/bench-before-2026-11-26.json"
LATENCY_PNG = "images/bench-latency.png"
CPU_PNG = "images/bench-cpu.png"
COLORS = {"A": "#4c72b0", "B": "#dd8452", "C": "#55a868"}
NAMES = {"A": "A: bare Envoy", "B": "B: empty wasm VM", "C": "C: genai filter"}
# Percentiles drawn from raw samples (the TTFT probe keeps every one).
SAMPLE_PCTS = [10, 25, 50, 75, 90, 95, 99, 99.9]
WORKLOAD_TITLES = {"4k": "4 KB request, fixed rate (oha)", "400k": "400 KB request, fixed rate (oha)"}


def load_before(path: pathlib.Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def nines(p: float) -> float:
    """Where percentile `p` sits on a 'nines' axis: 90 -> 1, 99 -> 2, 99.9 -> 3."""
    return -math.log10(1 - min(p, 99.99) / 100)


def sample_curve(samples: list[float]) -> list[tuple[float, float]]:
    """(percentile, ms) of raw samples, only up to the percentiles the samples can resolve."""
    s = sorted(samples)
    out = []
    for p in SAMPLE_PCTS:
        if len(s) < 100 / (100 - p):  # e.g. p99.9 needs 1,000 samples
            continue
        out.append((p, s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]))
    return out


def oha_curve(rounds: list[dict]) -> list[tuple[float, float]]:
    """(percentile, ms): the median over the rounds of each percentile oha reported."""
    by_p: dict[float, list[float]] = {}
    for per in rounds:
        for k, v in per.items():
            try:
                p = float(k.lstrip("p"))
            except ValueError:
                continue
            if v == v and p < 100:
                by_p.setdefault(p, []).append(v)
    return sorted((p, statistics.median(vs)) for p, vs in by_p.items())


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _run_label(r: dict, m: dict) -> str:
    load = r.get("loadavg_start")
    kind = "quick run" if r.get("rounds", 0) < 4 else "full run"
    return (f"{m.get('date', '?')}, {kind} ({r.get('rounds', '?')} rounds), "
            f"load average {load if load is not None else '?'} on {m.get('nproc', '?')} cores")


def latency_panels(dist: dict) -> list[tuple[str, dict[str, list[tuple[float, float]]]]]:
    panels = []
    for workload, title in WORKLOAD_TITLES.items():
        curves = {v: oha_curve(rounds) for v, rounds in (dist.get("latency", {}).get(workload) or {}).items()}
        curves = {v: c for v, c in curves.items() if c}
        if curves:
            panels.append((title, curves))
    for key, title in (("ttft", "time to first token, 500 tokens in one burst"),
                       ("ttft_spaced", "time to first token, tokens 5 ms apart")):
        curves = {v: sample_curve(s) for v, s in (dist.get(key) or {}).items()}
        curves = {v: c for v, c in curves.items() if c}
        if curves:
            n = min(len(s) for s in dist[key].values())
            panels.append((f"{title} ({n} samples each)", curves))
    return panels


def draw_latency(path: pathlib.Path, r: dict, m: dict, dist: dict) -> bool:
    panels = latency_panels(dist)
    if not panels:
        return False
    plt = _plt()
    from matplotlib.ticker import FormatStrFormatter

    cols = 2
    rows = (len(panels) + 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.6 * rows), squeeze=False)
    for ax, (title, curves) in zip([a for row in axes for a in row], panels):
        ticks = sorted({p for c in curves.values() for p, _ in c})
        for v in sorted(curves):
            xs = [nines(p) for p, _ in curves[v]]
            ax.plot(xs, [ms for _, ms in curves[v]], marker="o", ms=3, color=COLORS.get(v), label=NAMES.get(v, v))
        ticks = [p for p in ticks if p not in (25, 75)] or ticks  # p25/p75 crowd p10/p50 on this axis
        ax.set_xticks([nines(p) for p in ticks], [f"p{p:g}" for p in ticks], fontsize=7)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.tick_params(axis="y", which="both", labelsize=7)
        ax.set_ylabel("ms")
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in [a for row in axes for a in row][len(panels):]:
        ax.axis("off")
    fig.suptitle(f"Latency distributions of A, B and C — {_run_label(r, m)}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return True


def binary_group(dso: str) -> str:
    if dso.startswith(("[JIT]", "[unknown]", "perf-")):
        return "wasm code (V8-generated)"
    if dso == "envoy":
        return "Envoy binary (Envoy, V8 runtime, host calls)"
    if "kernel" in dso:
        return "kernel"
    return "libc and other"


GROUPS = ["Envoy binary (Envoy, V8 runtime, host calls)", "wasm code (V8-generated)", "kernel", "libc and other"]
GROUP_COLORS = ["#4c72b0", "#55a868", "#c44e52", "#8172b3"]


def perf_rows(before: dict, perf: dict) -> list[tuple[str, dict[str, float]]]:
    """(row label, group -> µs per 4 KB request), before issue 10 and in this run."""
    rows = []
    for v, per in (before.get("perf_4k_us_per_request") or {}).items():
        g: dict[str, float] = {}
        for dso, us in per.items():
            g[binary_group(dso)] = g.get(binary_group(dso), 0.0) + us
        rows.append((f"{v}, {before.get('date', 'before')}", g))
    for v in ("A", "B", "C"):
        p = perf.get(v)
        if not p:
            continue
        g = {}
        for dso, share in p.get("shares", {}).items():
            g[binary_group(dso)] = g.get(binary_group(dso), 0.0) + p["cpu_us_per_request"] * share / 100
        rows.append((f"{v}, this run", g))
    return rows


def crate_instructions(profile: dict) -> dict[str, float]:
    """Instructions per operation by crate, from a callgrind profile of run.py (its self-cost
    shares, scaled to the per-operation count)."""
    from report import crate_of

    rows = profile.get("all") or []
    total = sum(p for p, _ in rows)
    if not rows or not total or not profile.get("per_op"):
        return {}
    out: dict[str, float] = {}
    for p, fn in rows:
        out[crate_of(fn)] = out.get(crate_of(fn), 0.0) + profile["per_op"] * p / total
    return out


def before_instructions(before: dict, op: str) -> dict[str, float]:
    b = (before.get("callgrind") or {}).get(op)
    if not b:
        return {}
    out = {c: b["per_op"] * s / 100 for c, s in b["crate_shares_pct"].items()}
    out["other"] = max(0.0, b["per_op"] - sum(out.values()))
    return out


def _stacked(ax, rows: list[tuple[str, dict[str, float]]], order: list[str], colors: list[str], unit: str) -> None:
    labels = [label for label, _ in rows]
    left = [0.0] * len(rows)
    for key, color in zip(order, colors):
        vals = [g.get(key, 0.0) for _, g in rows]
        ax.barh(labels, vals, left=left, color=color, label=key)
        left = [a + b for a, b in zip(left, vals)]
    for i, total in enumerate(left):
        ax.text(total, i, f" {total:,.0f} {unit}", va="center", fontsize=7)
    ax.set_xlim(0, max(left) * 1.25 if left and max(left) > 0 else 1)
    ax.invert_yaxis()
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))


def _crate_rows(before: dict, profiles: dict, op: str) -> tuple[list, list[str]]:
    rows = []
    b = before_instructions(before, op)
    if b:
        rows.append((f"before ({before.get('date', '?')})", b))
    now = crate_instructions(profiles.get(op) or {})
    if now:
        rows.append(("this run", now))
    totals: dict[str, float] = {}
    for _, g in rows:
        for c, v in g.items():
            if c != "other":
                totals[c] = totals.get(c, 0.0) + v
    top = [c for c, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:7]]
    folded = []
    for label, g in rows:
        f = {c: g.get(c, 0.0) for c in top}
        f["other"] = sum(v for c, v in g.items() if c not in top)
        folded.append((label, f))
    return folded, top + ["other"]


def draw_cpu(path: pathlib.Path, r: dict, m: dict, inputs: dict, before: dict) -> bool:
    prows = perf_rows(before, inputs.get("perf") or {})
    has_now = bool(inputs.get("perf")) or any(crate_instructions(inputs.get("profiles", {}).get(op) or {})
                                              for op in ("inspect_4k", "chunk_openai_exchange"))
    if not has_now:
        return False  # only the old run's figures: nothing of this run to draw
    plt = _plt()
    panels = [("Envoy CPU per 4 KB request, by binary (perf -e cpu-clock)", "perf")]
    for op, title in (("inspect_4k", "instructions of one 4 KB request's inspection, by crate (callgrind)"),
                      ("chunk_openai_exchange", "instructions of one streamed OpenAI chunk, by crate (callgrind)")):
        panels.append((title, op))
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 2.6 * len(panels) + 0.6))
    palette = plt.get_cmap("tab10").colors
    for ax, (title, what) in zip(axes, panels):
        if what == "perf":
            if prows:
                _stacked(ax, prows, GROUPS, GROUP_COLORS, "µs")
        else:
            rows, order = _crate_rows(before, inputs.get("profiles") or {}, what)
            if rows:
                _stacked(ax, rows, order, [palette[i % 10] for i in range(len(order))], "instr.")
        if not ax.has_data():
            ax.text(0.5, 0.5, "not measured in this run", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"Where the CPU of a request goes — {_run_label(r, m)}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return True


def draw_all(docs: pathlib.Path, r: dict, inputs: dict, dist: dict, before: dict) -> list[tuple[str, str]]:
    """Draws the pictures of one run under `docs` (docs/images/...); returns (path relative to
    docs/, caption) for each picture drawn."""
    m = inputs.get("machine") or {}
    out = []
    if draw_latency(docs / LATENCY_PNG, r, m, dist):
        out.append((LATENCY_PNG, f"Latency distributions of A, B and C per workload ({_run_label(r, m)})"))
    if draw_cpu(docs / CPU_PNG, r, m, inputs, before):
        out.append((CPU_PNG, f"Where the CPU of a request goes, before issue 10 and in this run ({_run_label(r, m)})"))
    return out
