"""A simulated Mimecast URL Protection logs API, for tests and benchmarks.

It serves ``POST /oauth/token`` and ``POST /api/ttp/url/get-logs`` over real
sockets with Mimecast's auth (OAuth2 and API 1.0 HMAC), filters, paging, quotas,
a catalogue of injectable faults (mimecast-api.md section 8), a quirk matrix of
answers that differ from our assumptions, and a record of every request's arrival
for "no request crossed a 429" checks (docs/simulator.md)::

    dataset = ClickDataset.generate(10_000, start=t0, end=t1, seed=1)
    async with Simulator(SimulatorConfig(), dataset) as sim:
        ...  # point a collector at sim.base_url; compare with dataset.truth()
"""

from collector.simulator.config import SimulatorConfig, SimulatorStats
from collector.simulator.dataset import ClickDataset
from collector.simulator.faults import FAULT_KINDS, FaultPlan, QuotaConfig
from collector.simulator.quirks import QUIRKS
from collector.simulator.recording import Arrival, GateViolation, Throttle
from collector.simulator.server import Simulator
from collector.simulator.thread import SimulatorThread

__all__ = [
    "FAULT_KINDS",
    "QUIRKS",
    "Arrival",
    "ClickDataset",
    "FaultPlan",
    "GateViolation",
    "QuotaConfig",
    "Simulator",
    "SimulatorConfig",
    "SimulatorStats",
    "SimulatorThread",
    "Throttle",
]
