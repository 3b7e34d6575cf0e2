"""The scenario harness itself: the ports it hands out, and a start that survives a port
another process took between the probe and Envoy's bind (CI of 3 December failed so)."""
from __future__ import annotations

import socket

import httpx

import harness
from harness import TEAM_ABC_KEY, Gateway
from deployment import chat


def test_ports_come_from_below_the_ephemeral_range_and_never_twice():
    ports = [harness.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    low = harness._ephemeral_low()
    if low - harness._PORTS_LOW >= 1000:
        assert all(harness._PORTS_LOW <= p < low for p in ports)


def test_a_gateway_whose_port_was_taken_starts_on_new_ones(tmp_path):
    gw = Gateway(workdir=tmp_path)
    taken = gw.port
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", taken))
    squatter.listen()
    try:
        gw.start()
        assert gw.port != taken
        assert (tmp_path / "envoy-bind-failed-0.log").read_text().count("Address already in use") >= 1
        r = chat(gw.url, TEAM_ABC_KEY, messages=[{"role": "user", "content": "hello"}])
        assert r.status_code == 200, r.text
        assert len(gw.mock.requests()) == 1
        assert httpx.get(f"{gw.admin}/ready").status_code == 200
    finally:
        squatter.close()
        gw.stop()
