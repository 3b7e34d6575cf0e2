"""Fixtures: one shared gateway scenario for most tests, fresh ones where a test needs its own."""
from __future__ import annotations

import pathlib

import pytest

from harness import Gateway

_gateways: list[Gateway] = []


@pytest.fixture(scope="session")
def gateway(tmp_path_factory) -> Gateway:
    gw = Gateway(workdir=tmp_path_factory.mktemp("gateway"))
    _gateways.append(gw)
    try:
        gw.start()
    except Exception:
        gw.stop()
        raise
    yield gw
    gw.stop()


@pytest.fixture
def mock(gateway):
    """The shared scenario's mock provider, with an empty record."""
    gateway.mock.clear()
    return gateway.mock


@pytest.fixture
def make_gateway(tmp_path: pathlib.Path):
    """Starts a dedicated scenario (its own Envoy and mock) for one test."""
    started: list[Gateway] = []

    def make(**kwargs) -> Gateway:
        gw = Gateway(workdir=tmp_path / f"gw{len(started)}", **kwargs)
        started.append(gw)
        _gateways.append(gw)
        return gw.start()

    yield make
    for gw in started:
        gw.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for gw in _gateways:
            report.sections.append((f"Envoy log ({gw.workdir.name})", gw.log_tail(80)))
