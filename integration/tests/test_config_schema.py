"""docs/config.schema.json against the filter's own validation (`genaictl validate`).

The demo configuration must satisfy the schema. Each broken variant must be refused by both:
the schema, and genaictl naming the field at fault. No Envoy is needed.
"""
import copy
import json
import subprocess

import jsonschema
import pytest

from harness import DEMO_CONFIG, GENAICTL, ROOT

SCHEMA = json.loads((ROOT / "docs/config.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def demo() -> dict:
    return json.loads(DEMO_CONFIG.read_text())


def genaictl_validate(path) -> subprocess.CompletedProcess:
    return subprocess.run([str(GENAICTL), "validate", str(path)], capture_output=True, text=True, timeout=30)


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_demo_config_satisfies_the_schema():
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(demo())]
    assert errors == []


def test_demo_config_passes_genaictl():
    out = genaictl_validate(DEMO_CONFIG)
    assert out.returncode == 0, out.stderr


def dotted(path) -> str:
    """A JSON Schema error's path as genaictl writes fields: `models[0].pricing`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def guardrails(c):
    return c["guardrails"]


def detection(c):
    return c["guardrails"]["detection"]


# (id, mutation, the field genaictl must name)
BROKEN = [
    # Unknown fields, at every depth.
    ("unknown-top", lambda c: c.update(api_key="sk-123"), "`api_key`"),
    ("unknown-team", lambda c: c["teams"][0].update(budget=5), "`teams[0].budget`"),
    ("unknown-provider", lambda c: c["providers"][0].update(api_key="sk-123"), "`providers[0].api_key`"),
    ("unknown-model", lambda c: c["models"][1].update(max_tokens=5), "`models[1].max_tokens`"),
    ("unknown-pricing", lambda c: c["models"][0]["pricing"].update(currency="usd"), "`models[0].pricing.currency`"),
    ("unknown-tier", lambda c: c["model_tiers"][0].update(price=1), "`model_tiers[0].price`"),
    ("unknown-guardrails", lambda c: guardrails(c).update(mode="strict"), "`guardrails.mode`"),
    ("unknown-detection", lambda c: detection(c).update(rules=[]), "`guardrails.detection.rules`"),
    ("unknown-custom-detector", lambda c: detection(c)["custom_detectors"][0].update(regex="x"),
     "`guardrails.detection.custom_detectors[0].regex`"),
    ("unknown-marker", lambda c: detection(c).update(markers=[{"keyword": "SECRET", "classification": "restricted",
                                                                "color": "red"}]),
     "`guardrails.detection.markers[0].color`"),
    ("unknown-injection-rule", lambda c: detection(c).update(injection_rules=[{"name": "x", "phrases": ["ignore me"],
                                                                                 "weight": 2}]),
     "`guardrails.detection.injection_rules[0].weight`"),
    ("unknown-detector-policy", lambda c: guardrails(c)["detectors"]["email"].update(mask="***"),
     "`guardrails.detectors.email.mask`"),
    ("unknown-injection", lambda c: guardrails(c)["injection"].update(threshold=1), "`guardrails.injection.threshold`"),
    ("unknown-injection-family", lambda c: guardrails(c)["injection"].update(families={"jailbrake": {}}),
     "`guardrails.injection.families.jailbrake`"),
    ("unknown-injection-family-field", lambda c: guardrails(c)["injection"].update(families={"jailbreak": {"score": 1}}),
     "`guardrails.injection.families.jailbreak.score`"),
    ("bad-injection-threshold", lambda c: guardrails(c)["injection"].update(families={"jailbreak": {"threshold": 0}}),
     "`guardrails.injection.families.jailbreak.threshold`"),
    ("bad-injection-family-action", lambda c: guardrails(c)["injection"].update(families={"jailbreak": {"action": "redact"}}),
     "`guardrails.injection.families.jailbreak.action`"),
    ("bad-injection-custom-rule-family", lambda c: guardrails(c)["injection"].update(
        custom_rules=[{"name": "codename_leak", "family": "leaks", "terms": [["reveal"], ["falcon"]]}]),
     "`guardrails.injection.custom_rules[0].family`"),
    ("unknown-prompt-logging", lambda c: guardrails(c)["prompt_logging"].update(redact=False),
     "`guardrails.prompt_logging.redact`"),
    # Bad values.
    ("bad-hash", lambda c: c["teams"][0].update(key_sha256=["team-abc-key-xxxxx"]), "`teams[0].key_sha256[0]`"),
    ("bad-hash-length", lambda c: c["teams"][1]["key_sha256"].append("ab" * 31), "`teams[1].key_sha256[1]`"),
    ("bad-kind", lambda c: c["providers"][0].update(kind="OpenAI"), "`providers[0].kind`"),
    ("missing-tier", lambda c: c["models"][2].pop("tier"), "`models[2]`"),
    ("missing-price", lambda c: c["models"][1]["pricing"].pop("output_per_million"), "`models[1].pricing`"),
    ("negative-price", lambda c: c["models"][2]["pricing"].update(output_per_million=-3),
     "`models[2].pricing.output_per_million`"),
    ("bad-classification-tier", lambda c: c["model_tiers"][1].update(approved_for=["secret"]),
     "`model_tiers[1].approved_for[0]`"),
    ("bad-classification-detector", lambda c: guardrails(c)["detectors"]["email"].update(classification="pii"),
     "`guardrails.detectors.email.classification`"),
    ("bad-classification-marker", lambda c: detection(c).update(markers=[{"keyword": "SECRET",
                                                                           "classification": "Secret"}]),
     "`guardrails.detection.markers[0].classification`"),
    ("bad-classification-audit", lambda c: guardrails(c).update(audit_from="top-secret"), "`guardrails.audit_from`"),
    ("bad-classification-logging", lambda c: guardrails(c)["prompt_logging"].update(max_classification="all"),
     "`guardrails.prompt_logging.max_classification`"),
    ("bad-action-detector", lambda c: guardrails(c)["detectors"]["email"].update(action="block"),
     "`guardrails.detectors.email.action`"),
    ("bad-action-injection", lambda c: guardrails(c)["injection"].update(action="redact"),
     "`guardrails.injection.action`"),
    ("bad-disabled-detector", lambda c: detection(c).update(disabled_detectors=["ssn"]),
     "`guardrails.detection.disabled_detectors[0]`"),
    ("custom-detector-builtin-name", lambda c: detection(c)["custom_detectors"].append({"name": "email",
                                                                                         "keywords": ["x"]}),
     "`guardrails.detection.custom_detectors[1].name`"),
    ("custom-detector-empty", lambda c: detection(c)["custom_detectors"].append({"name": "ticket_id"}),
     "`guardrails.detection.custom_detectors[1]`"),
    ("bad-classification-header", lambda c: guardrails(c).update(classification_header="x-genai-class"),
     "`guardrails.classification_header`"),
    ("azure-without-api-version", lambda c: c["providers"][3].pop("api_version"), "`providers[3].api_version`"),
    ("anthropic-version-on-openai", lambda c: c["providers"][0].update(anthropic_version="2023-06-01"),
     "`providers[0].anthropic_version`"),
    ("empty-model-tiers", lambda c: c.update(model_tiers=[]), "`model_tiers`"),
    # Rate limits, budgets, allowed models, workloads.
    ("unknown-rate-limits", lambda c: c["rate_limits"].update(redis="x"), "`rate_limits.redis`"),
    ("bad-failure-mode", lambda c: c["rate_limits"].update(failure_mode={"budgets": "maybe"}),
     "`rate_limits.failure_mode.budgets`"),
    ("zero-timeout", lambda c: c["rate_limits"].update(timeout_ms=0), "`rate_limits.timeout_ms`"),
    ("bad-utc-offset", lambda c: c["rate_limits"].update(budget_utc_offset_minutes=900),
     "`rate_limits.budget_utc_offset_minutes`"),
    ("zero-rpm", lambda c: c["teams"][0].update(requests_per_minute=0), "`teams[0].requests_per_minute`"),
    ("zero-budget", lambda c: c["teams"][1].update(monthly_budget_dollars=0), "`teams[1].monthly_budget_dollars`"),
    ("cents-budget", lambda c: c["teams"][0].update(daily_budget_dollars=2.5), "`teams[0].daily_budget_dollars`"),
    ("empty-allowed-models", lambda c: c["teams"][1].update(allowed_models=[]), "`teams[1].allowed_models`"),
    ("unknown-key-field", lambda c: c["teams"][0].update(keys=[{"id": "ci", "sha256": "ab" * 32, "rpm": 1}]),
     "`teams[0].keys[0].rpm`"),
    ("bad-key-id", lambda c: c["teams"][0].update(keys=[{"id": "CI Key", "sha256": "ab" * 32}]),
     "`teams[0].keys[0].id`"),
    ("bad-spiffe-id", lambda c: c.update(workloads=[{"name": "w", "spiffe_ids": ["https://w"]}]),
     "`workloads[0].spiffe_ids[0]`"),
    ("bad-workload-header", lambda c: c.update(workload_header="x-genai-workload"), "`workload_header`"),
    ("zero-max-output", lambda c: c["models"][0].update(max_output_tokens=0), "`models[0].max_output_tokens`"),
    # Fallback chains and timeouts.
    ("fallbacks-not-a-list", lambda c: c["models"][0].update(fallbacks="azure-gpt-4o"), "`models[0].fallbacks`"),
    ("fallbacks-too-many", lambda c: c["models"][1].update(fallbacks=["gpt-4o", "azure-gpt-4o", "llama-internal",
                                                                       "default-chat", "x"]), "`models[1].fallbacks`"),
    ("fallback-twice", lambda c: c["models"][0].update(fallbacks=["azure-gpt-4o", "azure-gpt-4o"]),
     "`models[0].fallbacks[1]`"),
    ("unknown-timeout", lambda c: c["models"][0].update(timeouts={"first_byte": 1000}), "`models[0].timeouts.first_byte`"),
    ("zero-first-byte", lambda c: c.update(timeouts={"first_byte_ms": 0}), "`timeouts.first_byte_ms`"),
    ("timeout-as-text", lambda c: c["models"][1].update(timeouts={"stream_idle_ms": "5m"}),
     "`models[1].timeouts.stream_idle_ms`"),
]


@pytest.mark.parametrize("mutate,field", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_config_is_refused_by_schema_and_genaictl(tmp_path, mutate, field):
    config = copy.deepcopy(demo())
    mutate(config)

    errors = list(VALIDATOR.iter_errors(config))
    assert errors, "the schema accepted it"
    # The schema objects at the field genaictl names, or at the object holding it.
    assert any(field.strip("`").startswith(dotted(e.absolute_path)) for e in errors), \
        [(dotted(e.absolute_path), e.message) for e in errors]

    path = tmp_path / "filter-config.json"
    path.write_text(json.dumps(config))
    out = genaictl_validate(path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"configuration field {field}" in out.stderr, out.stderr
