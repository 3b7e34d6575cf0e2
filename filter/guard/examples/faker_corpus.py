"""Writes a Faker-generated corpus of values (JSONL: locale, type, value) to stdout.

Our own stand-in for the held-back corpus of issue 9 item 6: every Faker locale that has a
phone provider, 20 phone numbers each, 4 IPv4 and 4 IPv6 addresses, e-mails, card numbers
and IBANs, and one US SSN, with a fixed seed so that a run is reproducible. The values are
generated here, never stored in the repository. Read by `examples/faker_score.rs` through
`scripts/faker-report`.
"""
import json
import sys
import warnings

import faker.config
from faker import Faker

warnings.simplefilter("ignore")  # deprecated locales (fr_QC) say so on every use


def rows():
    n = 0
    for loc in sorted(faker.config.AVAILABLE_LOCALES):
        f = Faker(loc)
        f.seed_instance(11)
        try:
            f.phone_number()
        except AttributeError:
            continue
        for _ in range(20):
            yield loc, "phone", f.phone_number()
            n += 1
        for _ in range(4):
            yield loc, "ip_address", f.ipv4()
            yield loc, "ip_address", f.ipv6()
            yield loc, "email", f.email()
            yield loc, "credit_card", f.credit_card_number()
            try:
                yield loc, "iban", f.iban()
            except AttributeError:
                pass
        us = Faker("en_US")
        us.seed_instance(n)
        yield loc, "us_ssn", us.ssn()


for loc, kind, value in rows():
    sys.stdout.write(json.dumps({"locale": loc, "type": kind, "value": value}, ensure_ascii=False) + "\n")
