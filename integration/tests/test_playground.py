"""The playground (GET /playground) in a real browser: Debian's Chromium driven by
playwright-core (integration/node/playground.mjs), against a real Envoy with the filter. It
checks a prompt with a card number, runs a prompt against two models side by side, shows a
refusal with its runbook link, shows the team's usage from the real GET /v1/gateway/usage
(Redis and the rate limit service run beside it), fits a narrow window, and works from the
keyboard; what it shows must be what the gateway decided and counted. Screenshots go to target/playground/
(scripts/playground-screenshots copies them to docs/images/)."""
from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from harness import DEMO_CONFIG, ROOT, TEAM_ABC_KEY, envoy_stats, wait_until

NODE_DIR = ROOT / "integration/node"
SHOTS = ROOT / "target/playground"
RUNBOOK = "https://gateway.internal/docs/runbooks/classification_mismatch.md"


def run_page(gw, profile, **extra) -> dict:
    proc = subprocess.run(
        ["node", str(NODE_DIR / "playground.mjs"),
         json.dumps({"url": gw.url, "key": TEAM_ABC_KEY, "shots": str(SHOTS), "profile": str(profile), **extra})],
        capture_output=True, text=True, timeout=180, cwd=NODE_DIR)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["ok"], result.get("error")
    return result


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One browser session over a dedicated gateway, so its stats count only the page's calls;
    with Redis and the rate limit service, so GET /v1/gateway/usage is the real endpoint."""
    from harness import Gateway, RateLimitService, Redis

    work = tmp_path_factory.mktemp("playground")
    redis = Redis(work / "redis").start()
    service = gw = None
    try:
        service = RateLimitService(work, DEMO_CONFIG, redis).start()
        gw = Gateway(workdir=work / "gw", ratelimit=service).start()
        before = envoy_stats(gw)
        result = run_page(gw, work / "chromium-profile")
        yield gw, result, before, envoy_stats(gw)
    finally:
        for part in (gw, service, redis):
            if part:
                part.stop()


def test_page_is_served_by_envoy_and_self_contained(session):
    gw, r, _, _ = session
    load = r["steps"]["load"]
    assert load["status"] == 200 and load["title"].startswith("Playground")
    csp = load["headers"]["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "unsafe-inline" not in csp
    assert r["offsite"] == [], "the page asked for something outside the gateway"
    assert r["console"] == [], "console errors or CSP violations"
    paths = {p.split(" ", 1)[1] for p in r["requests"]}
    assert paths <= {"/playground", "/v1/models", "/v1/gateway/check", "/v1/gateway/usage",
                     "/v1/chat/completions", "/v1/messages"}, paths
    failed = [x for x in r["responses"] if not x.startswith("200 ")]
    # Only the refused run (403).
    assert set(failed) <= {"403 POST /v1/chat/completions"}, failed
    # The page is a file Envoy serves itself: the filter is off for that route, no provider.
    assert httpx.get(f"{gw.url}/playground").text == (ROOT / "envoy/playground/index.html").read_text()


def test_the_key_stays_in_session_storage(session):
    _, r, _, _ = session
    storage = r["steps"]["storage"]
    assert storage["session"] == {"genai-playground-key": TEAM_ABC_KEY}
    assert storage["local"] == [] and storage["cookies"] == ""
    assert TEAM_ABC_KEY not in storage["keyField"], "the key is not shown once accepted"
    assert r["steps"]["focusAtLoad"] == "key"


def test_models_show_tier_classifications_and_prices(session):
    _, r, _, _ = session
    models = r["steps"]["models"]
    assert len(models) == 6, models  # catalog models; aliases are named on their model
    gpt = next(m for m in models if m.startswith("gpt-4o general"))
    assert "approved for public, internal" in gpt and "$2.5 in / $10 out per 1M tokens" in gpt
    assert "alias default-chat" in gpt
    assert any(m.startswith("llama-internal self_hosted") and "restricted" in m for m in models)


def test_check_names_the_card_and_lists_only_the_approved_models(session, ):
    gw, r, before, after = session
    check = r["steps"]["check"]
    assert "credit_card" in check["detections"]
    assert any(row.startswith("credit_card 1 confidential block") for row in check["detectionRows"])
    assert "block" in check["decision"] and "confidential" in check["decision"]
    assert check["accepting"] == ["claude-sonnet-private", "llama-internal"]
    assert check["approved"] == "Approved models: claude-sonnet-private, llama-internal"
    assert "classification_mismatch" in check["error"]
    # The checks reached the gateway and were counted as dry runs (this one and the
    # injection's, both blocked), and reached no provider.
    assert after.get("genai_dry_runs_total;team=team-abc;action=block", 0) - \
        before.get("genai_dry_runs_total;team=team-abc;action=block", 0) == 2


def test_check_shows_the_injection_families_the_gateway_scored(session):
    _, r, _, _ = session
    inj = r["steps"]["injection"]
    verdict = inj["verdict"]
    assert verdict["decision"] == "block" and verdict["error_code"] == "prompt_injection_blocked", verdict
    fams = verdict["injection_families"]
    assert any(f["family"] == "instruction_override" and f["triggered"] and f["action"] == "block" for f in fams), fams
    # The page shows every family the gateway scored, as it scored it.
    assert [row["family"] for row in inj["families"]] == [f["family"] for f in fams]
    for row, f in zip(inj["families"], fams):
        name, score, action, features = row["cells"]
        assert name == f["family"] and score == f"{f['score']:g} of {f['threshold']:g}", (row, f)
        assert action == (f["action"] if f["triggered"] else "below threshold")
        assert features == ", ".join(f["features"])
    for hit in verdict["injection"]:
        assert hit["rule"] in inj["rules"]


def tokens(stats: dict, model: str, provider: str, kind: str) -> float:
    return stats.get(f"genai_tokens_total;team=team-abc;model={model};provider={provider};type={kind};estimated=false", 0)


def test_two_models_stream_side_by_side_with_what_the_metrics_counted(session):
    gw, r, before, after = session
    run = {c["model"]: c for c in r["steps"]["run"]}
    assert set(run) == {"gpt-4o", "claude-sonnet"}
    refusal_run = {c["model"]: c for c in r["steps"]["refusal"]}
    for model, provider in (("gpt-4o", "openai"), ("claude-sonnet", "anthropic")):
        c = run[model]
        assert c["done"] == "ok" and c["status"] == "200", c
        assert "mock reply" in c["answer"]
        assert c["ttft"].endswith(" ms")
        # The page ran each model once in "run"; gpt-4o was refused in "refusal" (no tokens).
        assert int(c["input"]) == tokens(after, model, provider, "input") - tokens(before, model, provider, "input")
        assert int(c["output"]) == tokens(after, model, provider, "output") - tokens(before, model, provider, "output")
        cost = f"genai_request_cost_microdollars_total;team=team-abc;model={model}"
        assert int(c["costMicro"]) == after[cost] - before.get(cost, 0) > 0
        assert c["cost"] == f"${int(c['costMicro']) / 1e6:.6f}"
    assert refusal_run["llama-internal"]["done"] == "ok"


def test_a_refusal_shows_the_gateways_error_and_runbook(session):
    gw, r, before, after = session
    c = {c["model"]: c for c in r["steps"]["refusal"]}["gpt-4o"]
    assert c["done"] == "error" and c["status"] == "403"
    assert c["error"]["code"] == "403 classification_mismatch"
    assert "credit_card" in c["error"]["message"] and "runbook" not in c["error"]["message"]
    assert c["error"]["runbook"] == RUNBOOK
    refused = "genai_requests_total;team=team-abc;model=gpt-4o;provider=openai;code_class=4xx;origin=gateway"
    assert after.get(refused, 0) - before.get(refused, 0) == 1


def test_narrow_window_and_keyboard(session):
    _, r, _, _ = session
    narrow = r["steps"]["narrow"]
    assert narrow["scrollWidth"] <= narrow["width"], narrow
    order = r["steps"]["tabOrder"]
    for stop in ("key", "gpt-4o", "system", "user", "classification", "max-tokens", "check", "run"):
        assert stop in order, (stop, " ".join(map(str, order)))
    assert order.index("key") < order.index("gpt-4o") < order.index("user") < order.index("check") < order.index("run")


def test_usage_panel_shows_what_the_usage_endpoint_answered(session):
    gw, r, _, _ = session
    steps = r["steps"]
    assert steps["usageStatus"] == 200 and steps["usageShown"], steps.get("usageText")
    u = steps["usageBody"]
    # The real endpoint, with the demo configuration's limits for team-abc.
    team = next(t for t in json.loads(DEMO_CONFIG.read_text())["teams"] if t["name"] == "team-abc")
    day, month = u["spend"]["day"], u["spend"]["month"]
    tpm, rpm = u["tokens_per_minute"], u["requests_per_minute"]
    assert u["team"] == "team-abc" and u["allowed_models"] is None
    assert day["budget_dollars"] == team["daily_budget_dollars"] and month["budget_dollars"] == team["monthly_budget_dollars"]
    assert tpm["limit"] == team["tokens_per_minute"] and rpm["limit"] == team["requests_per_minute"]
    # The two-model run finished before this answer: its spend and requests are in it.
    assert day["used_dollars"] > 0 and rpm["used"] >= 1, u
    # What the page shows is that answer (amounts under a cent in micro-dollars).
    def money(d: float) -> str:
        return f"${d:.2f}" if d == 0 or d >= 0.01 else f"${d:.6f}"

    text = steps["usageText"]
    assert f"Spend today: {money(day['used_dollars'])} of {money(day['budget_dollars'])}" in text, text
    assert f"Spend this month: {money(month['used_dollars'])} of {money(month['budget_dollars'])}" in text, text
    assert f"Tokens this minute: {tpm['used']} of {tpm['limit']}" in text, text
    assert f"Requests this minute: {rpm['used']} of {rpm['limit']}" in text, text
    assert "Team team-abc · models: all" in text, text
    meters = {m["label"]: m for m in steps["meters"]}
    assert set(meters) == {"Spend today", "Spend this month", "Tokens this minute", "Requests this minute"}
    assert meters["Spend today"]["now"] == day["used_dollars"] and meters["Spend today"]["max"] == day["budget_dollars"]
    width = float(meters["Tokens this minute"]["width"].removesuffix("%"))
    assert width == round(min(100.0, tpm["used"] / tpm["limit"] * 100), 1), meters


def test_usage_endpoint_counted_what_the_page_ran(session):
    """The spend behind the panel is the cost Envoy counted for the page's runs."""
    gw, _, _, _ = session

    def counted() -> int:
        return sum(int(v) for k, v in envoy_stats(gw).items()
                   if k.startswith("genai_request_cost_microdollars_total;team=team-abc;"))

    def used() -> int:
        r = httpx.get(f"{gw.url}/v1/gateway/usage", headers={"authorization": f"Bearer {TEAM_ABC_KEY}"})
        assert r.status_code == 200, r.text
        return r.json()["spend"]["day"]["used_microdollars"]

    wait_until(lambda: used() == counted() > 0, 15, "the usage endpoint to hold the spend Envoy counted")


def test_screenshots_are_saved():
    for name in ("check", "injection", "run", "refusal", "narrow", "usage"):
        png = SHOTS / f"{name}.png"
        assert png.exists() and png.stat().st_size > 10_000, png
