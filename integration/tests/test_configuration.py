"""Configuration: what Envoy and genaictl say about good and bad filter configs, and the
settings of the shipped Envoy config that the gateway depends on."""
import json
import pathlib
import subprocess

import pytest
import yaml

from harness import DEMO_CONFIG, GENAICTL, ROOT, Gateway, envoy_binary


def render(tmp_path, filter_config: pathlib.Path) -> pathlib.Path:
    out = tmp_path / "envoy.yaml"
    subprocess.run([str(ROOT / "scripts/render-envoy"), str(out), "--filter-config", str(filter_config),
                    "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--ratelimit", "127.0.0.1:18081"],
                   check=True)
    return out


def validate(config: pathlib.Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(config), "--disable-hot-restart"],
                          capture_output=True, text=True, env=env, timeout=60)


KEYS = {"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "y", "AZURE_OPENAI_API_KEY": "z",
        "ANTHROPIC_PRIVATE_API_KEY": "w", "SELF_HOSTED_API_KEY": "v", "PATH": "/usr/bin:/bin"}


def test_demo_config_loads(tmp_path):
    out = validate(render(tmp_path, DEMO_CONFIG), KEYS)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "genai filter configured: 2 teams, 5 providers, 6 models" in out.stdout + out.stderr


BAD = [
    (lambda c: c["providers"][0].update(api_key="sk-123"), "configuration field `providers[0].api_key`", "unknown field"),
    (lambda c: c["models"][1].update(provider="nobody"), "configuration field `models[1].provider`", "no provider named `nobody`"),
    (lambda c: c["teams"][0].update(key_sha256=["team-abc-key-xxxxx"]), "configuration field `teams[0].key_sha256[0]`", "64 hex digits"),
    (lambda c: c.update(max_request_body_bytes="lots"), "configuration field `max_request_body_bytes`", "invalid type"),
    (lambda c: c["models"][0].update(tier="platinum"), "configuration field `models[0].tier`", "no tier named `platinum`"),
    (lambda c: c["models"][2]["pricing"].update(output_per_million=-3), "configuration field `models[2].pricing.output_per_million`", "must be a price"),
    (lambda c: c["model_tiers"][1].update(approved_for=["secret"]), "configuration field `model_tiers[1].approved_for[0]`", "unknown classification"),
]


@pytest.mark.parametrize("mutate,field,problem", BAD)
def test_bad_config_is_refused_naming_the_field(tmp_path, mutate, field, problem):
    config = json.loads(DEMO_CONFIG.read_text())
    mutate(config)
    path = tmp_path / "filter-config.json"
    path.write_text(json.dumps(config))

    out = validate(render(tmp_path, path), KEYS)
    log = out.stdout + out.stderr
    assert out.returncode != 0
    assert field in log and problem in log, log[-2000:]
    assert "team-abc-key-xxxxx" not in log and "sk-123" not in log

    ctl = subprocess.run([str(GENAICTL), "validate", str(path)], capture_output=True, text=True)
    assert ctl.returncode == 1
    assert field in ctl.stderr and problem in ctl.stderr, "genaictl says what the filter says"


def test_missing_provider_key_is_refused(tmp_path):
    env = {k: v for k, v in KEYS.items() if k != "ANTHROPIC_API_KEY"}
    out = validate(render(tmp_path, DEMO_CONFIG), env)
    assert out.returncode != 0
    assert "providers[1].api_key_env" in out.stdout + out.stderr
    assert "ANTHROPIC_API_KEY" in out.stdout + out.stderr


def test_genaictl_validate_and_mint_key(tmp_path):
    ok = subprocess.run([str(GENAICTL), "validate", str(DEMO_CONFIG), "--require-env"],
                        capture_output=True, text=True, env=KEYS)
    assert ok.returncode == 0, ok.stderr
    assert "OK (2 teams, 5 providers, 6 models)" in ok.stdout

    minted = subprocess.run([str(GENAICTL), "mint-key", "team-new"], capture_output=True, text=True, check=True)
    key = minted.stdout.split("\n")[1].strip()
    entry = json.loads(minted.stdout.strip().split("\n")[-1])
    assert key.startswith("gk-") and len(key) == 51
    assert entry["name"] == "team-new" and key not in json.dumps(entry)
    hashed = subprocess.run([str(GENAICTL), "hash-key"], input=key, capture_output=True, text=True, check=True)
    assert entry["key_sha256"] == [hashed.stdout.strip()]


def test_minted_key_works_end_to_end(tmp_path, make_gateway):
    import httpx

    minted = subprocess.run([str(GENAICTL), "mint-key", "team-new"], capture_output=True, text=True, check=True)
    key = minted.stdout.split("\n")[1].strip()
    config = json.loads(DEMO_CONFIG.read_text())
    config["teams"].append(json.loads(minted.stdout.strip().split("\n")[-1]))
    path = tmp_path / "with-new-team.json"
    path.write_text(json.dumps(config))
    gw = make_gateway(filter_config=path)
    r = httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                   json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
    assert r.status_code == 200, r.text
    assert len(gw.mock.requests()) == 1


def test_shipped_envoy_config_lets_long_streams_finish(tmp_path):
    cfg = yaml.safe_load(render(tmp_path, DEMO_CONFIG).read_text())
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    seconds = lambda d: float(d.rstrip("s"))
    assert seconds(hcm["stream_idle_timeout"]) >= 300
    assert seconds(hcm["request_timeout"]) == 0
    all_routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    # Besides the provider routes, only the playground page, which Envoy answers itself.
    [playground] = [r for r in all_routes if "route" not in r]
    assert playground["match"]["path"] == "/playground" and playground["direct_response"]["status"] == 200
    routes = [r for r in all_routes if "route" in r]
    providers = json.loads(DEMO_CONFIG.read_text())["providers"]
    upstreams = {p.get("upstream", p["name"]) for p in providers}
    # The usage endpoint's route goes to the rate limit service.
    usage = [r for r in routes if r["route"]["cluster"] == "genai_ratelimit_http"]
    assert len(usage) == 1
    # Not a provider: no attempt filter, no rate limit descriptors.
    assert usage[0]["typed_per_filter_config"] == {"genai_attempt": {
        "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}}
    routes = [r for r in routes if r not in usage]
    # One route per provider, and per fallback chain (test_fallback.py checks those).
    assert upstreams <= {r["route"]["cluster"] for r in routes}
    assert upstreams | {"genai_ratelimit", "genai_ratelimit_http"} <= {c["name"] for c in cfg["static_resources"]["clusters"]}
    chains = [r for r in routes if r["name"].startswith("model:") and "+" in r["name"]]
    assert chains, "the demo has fallback chains"
    for r in routes:
        # Every provider and fallback chain route gives both rate limit filters their
        # descriptors, and strips the descriptor headers. The stream-end charges (cost and
        # tokens) go in one call, the budget filter's (the demo's failure modes allow it).
        per_filter = r["typed_per_filter_config"]
        assert set(per_filter) >= {"envoy.filters.http.ratelimit.genai_budgets",
                                   "envoy.filters.http.ratelimit.genai_rates"}, r["name"]
        limits = per_filter["envoy.filters.http.ratelimit.genai_budgets"]["rate_limits"]
        for hits in ("%FILTER_STATE(wasm.genai_cost:PLAIN)%", "%FILTER_STATE(wasm.genai_tokens:PLAIN)%"):
            assert any(l.get("apply_on_stream_done") and l["hits_addend"]["format"] == hits for l in limits), r["name"]
        assert "x-genai-rl-team" in r["request_headers_to_remove"], r["name"]
    for r in routes:
        assert seconds(r["route"]["timeout"]) >= 300, "a 5-minute stream must finish"
        assert seconds(r["route"]["idle_timeout"]) >= 300
        # The descriptor headers never leave Envoy.
        assert r["request_headers_to_remove"][0] == "x-genai-upstream"
        assert {h for h in r["request_headers_to_remove"]} >= {"x-genai-rl-team", "x-genai-rl-cost-max"}
    wasm = next(f for f in hcm["http_filters"] if f["name"] == "genai")["typed_config"]["config"]
    assert wasm["failure_policy"] == "FAIL_RELOAD", "fails closed, and a crashed VM is replaced (docs/deployment/failure-policy.md)"
    assert wasm["allow_on_headers_stop_iteration"] is True
    assert json.loads(wasm["configuration"]["value"]) == json.loads(DEMO_CONFIG.read_text())


def test_docker_compose_config_is_accepted():
    out = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    rendered = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
                              capture_output=True, text=True, cwd=ROOT, check=True)
    services = yaml.safe_load(rendered.stdout)["services"]
    assert services["envoy"]["image"] == "envoyproxy/envoy:v1.40.0"
    assert "mock-provider" in services


def test_docker_envoy_config_is_current_and_valid(tmp_path):
    """envoy/docker/envoy.yaml is the template rendered for the compose topology."""
    committed = ROOT / "envoy/docker/envoy.yaml"
    fresh = tmp_path / "docker-envoy.yaml"
    subprocess.run([str(ROOT / "scripts/render-envoy"), "--docker", str(fresh)], check=True)
    assert committed.read_text() == fresh.read_text(), "run scripts/render-envoy --docker envoy/docker/envoy.yaml"
