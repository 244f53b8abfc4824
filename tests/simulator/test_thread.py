"""SimulatorThread: a simulator for synchronous code and separate processes."""

from __future__ import annotations

import time

import httpx
import pytest

from collector.events import format_mimecast_date
from collector.simulator import ClickDataset, SimulatorThread

from .helpers import GET_LOGS, T0, canon

ITEM = {"from": format_mimecast_date(T0), "to": format_mimecast_date(T0 + 600)}


def test_simulator_thread_serves_synchronous_clients() -> None:
    dataset = ClickDataset.generate(60, start=T0, end=T0 + 600, seed=2)
    with SimulatorThread(dataset=dataset) as sim:
        config = sim.simulator.config
        with httpx.Client(base_url=sim.base_url, timeout=10) as client:
            token = client.post(
                "/oauth/token",
                data={
                    "client_id": config.client_id,
                    "client_secret": config.client_secret,
                    "grant_type": "client_credentials",
                },
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            page = client.post(GET_LOGS, json={"data": [ITEM]}, headers=auth).json()
            assert canon(page["data"][0]["clickLogs"]) == canon(
                sim.call(sim.simulator.dataset.truth)
            )

            sim.call(sim.simulator.faults.schedule, "forbidden")
            assert client.post(GET_LOGS, json={"data": [ITEM]}, headers=auth).status_code == 403

            sim.start_live(200)
            time.sleep(0.3)
            sim.stop_live()
            assert sim.call(len, sim.simulator.dataset) > 60
        with pytest.raises(ValueError, match="unknown fault kind"):
            sim.call(sim.simulator.faults.schedule, "meteor")
        url = sim.base_url
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{url}/oauth/token", timeout=2)


def test_call_needs_a_running_thread() -> None:
    sim = SimulatorThread()
    with pytest.raises(RuntimeError, match="not running"):
        sim.call(len, [])
    sim.stop()  # stopping a thread never started is harmless
