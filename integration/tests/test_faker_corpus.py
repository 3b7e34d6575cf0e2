"""The PII detectors on a Faker-generated international corpus (issue 9 item 6's stand-in for
the held-back corpus; docs/guardrails.md "A Faker-generated corpus"): the corpus is generated
with a fixed seed (filter/guard/examples/faker_corpus.py), scanned by the engine with the default
configuration (examples/faker_score.rs), and each type's recall must stay at or above the
figure measured when it was last raised, plain and with fullwidth digits, so a regression
fails. The floors are below the issue's 98 % bar where docs/guardrails.md says why."""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Measured 6 December 2026 (phone raised this stop); raise them when recall rises.
FLOORS = {"phone": 0.893, "credit_card": 0.796, "iban": 0.916, "ip_address": 1.0, "email": 1.0, "us_ssn": 1.0}


def test_recall_per_type_holds_on_the_faker_corpus(tmp_path):
    corpus = tmp_path / "faker-corpus.jsonl"
    with corpus.open("w") as out:
        subprocess.run([sys.executable, str(ROOT / "filter/guard/examples/faker_corpus.py")], stdout=out, check=True)
    lines = corpus.read_text().splitlines()
    assert len(lines) > 4000, "the generator wrote the whole corpus"
    run = subprocess.run(["cargo", "run", "--quiet", "--release", "--locked", "-p", "genai-guard", "--example",
                          "faker_score", "--", str(corpus)], cwd=ROOT, capture_output=True, text=True, check=True)
    rows = re.findall(r"^\| (\w+), (plain|fullwidth digits) \| (\d+)/(\d+) ", run.stdout, re.M)
    seen = {}
    for kind, form, found, values in rows:
        seen[(kind, form)] = int(found) / int(values)
    assert {k for k, _ in seen} == set(FLOORS), run.stdout
    low = {k: round(r, 4) for k, r in seen.items() if r < FLOORS[k[0]]}
    assert not low, f"recall below its floor: {low}\n{run.stdout}"
