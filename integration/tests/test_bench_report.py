"""The bench's report and pictures on fixture data, without Envoy: `scripts/bench --doc`
rewrites only the generated region of docs/benchmarks.md (the hand-written sections around it
stay as they are), refuses a page without the markers, and the pictures are drawn from a run's
own figures (integration/bench/report.py, integration/bench/plots.py)."""
from __future__ import annotations

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "integration/bench"))

import plots  # noqa: E402
import report  # noqa: E402

# A run's figures, as run.py hands them to report.write (a small but complete set).
RESULTS = {
    "rounds": 2, "concurrency": 1, "seconds_per_phase": 1.0, "duration_s": 106.0,
    "loadavg_start": 3.25, "loadavg_end": 3.5, "others_busy_pct_before": 12.0, "machine_busy_pct": 80.0,
    "machine_steal_pct": 0.1, "idle_cpu_pct_A": 0.2, "idle_cpu_pct_B": 0.2, "idle_cpu_pct_C": 0.3,
    "4k_cpu_us_added_C": 251.0, "4k_cpu_us_added_B": 27.0, "4k_cpu_us_C_minus_B": 224.0,
    "4k_throughput_ratio_C_over_B": 0.42, "ttft_p99_ms_added_C": 4.16, "ttft_p50_ms_added_C": 1.18,
}
MACHINE = {"date": "2031-01-02 03:04 UTC", "nproc": 2, "cpu": "Fixture CPU", "mem_gib": 23.5, "envoy": "1.40.0",
           "kernel": "6.0", "node": "v20"}
PROFILES = {
    "inspect_4k": {"per_op": 140000, "all": [[40.0, "genai_guard::automaton::Dfa::walk"],
                                             [20.0, "serde_json::read::SliceRead::skip_to_escape"],
                                             [10.0, "__memcpy_avx_unaligned_erms"], [5.0, "malloc"]]},
    "chunk_openai_exchange": {"per_op": 2437, "all": [[50.0, "genai_usage::sse::Parser::feed"],
                                                      [30.0, "core::str::converts::from_utf8"],
                                                      [20.0, "memchr::memchr::memchr_raw"]]},
}
PERF = {v: {"cpu_us_per_request": us, "shares": shares} for v, us, shares in (
    ("A", 100.0, {"envoy": 70.0, "[kernel.kallsyms]": 30.0}),
    ("B", 125.0, {"envoy": 66.0, "[JIT]": 4.0, "[kernel.kallsyms]": 30.0}),
    ("C", 350.0, {"envoy": 50.0, "[JIT]": 40.0, "[kernel.kallsyms]": 10.0}))}
INPUTS = {"machine": MACHINE, "micro": {}, "profiles": PROFILES, "rates": {"4k": 200, "400k": 20}, "perf": PERF}
DIST = {
    "latency": {w: {v: [{"p10": base * f, "p50": base * f * 1.2, "p90": base * f * 1.5, "p99": base * f * 2.5}
                        for f in (1.0, 1.1)]
                    for v, base in (("A", 0.3), ("B", 0.35), ("C", 0.6))} for w in ("4k", "400k")},
    "ttft": {v: [base + i / 100 for i in range(100)] for v, base in (("A", 0.5), ("B", 0.6), ("C", 1.7))},
    "ttft_spaced": {v: [base + i / 100 for i in range(40)] for v, base in (("A", 0.5), ("B", 0.6), ("C", 0.6))},
}

HAND_BEFORE = """## Issue 10 figures (quick run)

| figure | this run |
| --- | --- |
| CPU per 4 KB request, C−B | 224 µs |

## Memory under load (issue 10)

300 concurrent 1 MiB exchanges: **54.2 MiB**.

"""
HAND_AFTER = """
## Inspection

Instructions per byte: `inspect_4k` 33.53.

## Rate limits

Written by another issue by hand.
"""
OLD_RUN = "## This run\n\n| date | 2026-11-26 23:54 UTC |\n\nAn old figure: 338 µs.\n"


def write(path: pathlib.Path) -> None:
    report.write(path, RESULTS, MACHINE, "| figure | median |\n| --- | --- |\n| fixture | 1 |",
                 [("CPU per 4 KB request, C−B ≤ 15 µs", "224 µs", "missed")], {}, PROFILES,
                 rates_note=INPUTS["rates"], perf=PERF,
                 pictures=[("images/bench-latency.png", "Latency distributions")])


def test_doc_rewrites_only_the_generated_region(tmp_path):
    page = tmp_path / "benchmarks.md"
    original = report.HEADER + HAND_BEFORE + report.BEGIN + "\n\n" + OLD_RUN + "\n" + report.END + "\n" + HAND_AFTER
    page.write_text(original)
    write(page)
    text = page.read_text()
    # Everything outside the markers is exactly as it was.
    assert text.startswith(report.HEADER + HAND_BEFORE + report.BEGIN + "\n")
    assert text.endswith(report.END + "\n" + HAND_AFTER)
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1
    # Inside, the old run is gone and this run's sections are there.
    region = text.split(report.BEGIN)[1].split(report.END)[0]
    assert "2026-11-26" not in region and "338 µs" not in region
    assert "| date | 2031-01-02 03:04 UTC |" in region
    assert "| CPU per 4 KB request, C−B ≤ 15 µs | 224 µs | missed |" in region
    assert "## How each figure is measured" in region
    assert "![Latency distributions](images/bench-latency.png)" in region
    # Perf split with B beside A and C, and the C−B column.
    assert "| all | 100.0 | 125.0 | 350.0 | +250.0 | +225.0 |" in region
    # A second run replaces the region again and keeps the rest: the same page.
    write(page)
    assert page.read_text() == text


@pytest.mark.parametrize("page_text", [
    "# Benchmarks\n\n## This run\n\nno markers at all\n",
    f"# Benchmarks\n\n{report.BEGIN}\n\nonly the beginning\n",
    f"# Benchmarks\n\n{report.END}\n\nreversed\n\n{report.BEGIN}\n",
    f"# Benchmarks\n\n{report.BEGIN}\n{report.END}\n{report.BEGIN}\n{report.END}\n",
], ids=["no-markers", "no-end", "reversed", "two-regions"])
def test_a_page_without_one_generated_region_is_refused_and_left_alone(tmp_path, page_text):
    page = tmp_path / "benchmarks.md"
    page.write_text(page_text)
    with pytest.raises(ValueError, match="refusing to overwrite"):
        write(page)
    assert page.read_text() == page_text


def test_a_missing_page_is_made_with_the_introduction_and_the_region(tmp_path):
    page = tmp_path / "benchmarks.md"
    write(page)
    text = page.read_text()
    assert text.startswith(report.HEADER + report.BEGIN)
    assert text.rstrip().endswith(report.END)
    assert "| date | 2031-01-02 03:04 UTC |" in text


def test_the_shipped_page_keeps_its_hand_written_sections_outside_the_region():
    text = (ROOT / "docs/benchmarks.md").read_text()
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1
    before, rest = text.split(report.BEGIN)
    region, after = rest.split(report.END)
    for heading in ("## Issue 10 figures", "## Memory under load"):
        assert heading in before, heading
    assert "## Inspection" in after
    assert "## This run" in region and "## How each figure is measured" in region
    # What --doc would write keeps all of it: splice with a new region changes nothing else.
    new = report.splice(text, "## This run\n\nnew\n")
    assert new.startswith(before) and new.endswith(after)


def _png(path: pathlib.Path) -> bytes:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return data


def test_the_pictures_are_drawn_from_the_runs_figures(tmp_path):
    drawn = plots.draw_all(tmp_path, RESULTS, INPUTS, DIST, plots.load_before(ROOT / plots.BEFORE))
    assert [rel for rel, _ in drawn] == [plots.LATENCY_PNG, plots.CPU_PNG]
    for rel, caption in drawn:
        assert len(_png(tmp_path / rel)) > 10_000
        assert "load average 3.25" in caption
    # The curves are the run's own: oha's percentiles (median over rounds) and the TTFT samples.
    panels = dict(plots.latency_panels(DIST))
    four_k = panels[plots.WORKLOAD_TITLES["4k"]]
    assert four_k["C"] == [(10.0, pytest.approx(0.63)), (50.0, pytest.approx(0.756)), (90.0, pytest.approx(0.945)),
                           (99.0, pytest.approx(1.575))]
    burst = next(c for t, c in panels.items() if t.startswith("time to first token, 500 tokens"))
    assert burst["C"][2] == (50, pytest.approx(1.7 + 0.50, abs=0.011))
    assert all(p < 99.9 for p, _ in burst["C"])  # 100 samples do not resolve p99.9
    # Where the CPU goes: perf by binary, before and in this run; callgrind by crate.
    rows = dict(plots.perf_rows(plots.load_before(ROOT / plots.BEFORE), PERF))
    assert rows["C, this run"]["wasm code (V8-generated)"] == pytest.approx(140.0)
    assert rows["C, 2026-11-26"]["wasm code (V8-generated)"] == pytest.approx(103.4)
    crates = plots.crate_instructions(PROFILES["chunk_openai_exchange"])
    assert crates == {"genai_usage": pytest.approx(1218.5), "core": pytest.approx(731.1),
                      "memchr": pytest.approx(487.4)}


def test_nothing_is_drawn_that_the_run_did_not_measure(tmp_path):
    # A quick run without --pictures has no perf split or profiles, and no latencies here.
    drawn = plots.draw_all(tmp_path, RESULTS, {"machine": MACHINE, "perf": {}, "profiles": {}}, {},
                           plots.load_before(ROOT / plots.BEFORE))
    assert drawn == []
    assert not (tmp_path / "images").exists()
