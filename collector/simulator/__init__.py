"""A simulated Mimecast TTP logs API, for tests and benchmarks.

It serves ``POST /oauth/token`` and the three TTP get-logs endpoints
(``/api/ttp/url/get-logs``, ``/api/ttp/attachment/get-logs``,
``/api/ttp/impersonation/get-logs``) over real sockets with Mimecast's auth
(OAuth2 and API 1.0 HMAC), filters, paging, one quota per credential, a catalogue
of injectable faults (mimecast-api.md section 8), a quirk matrix of answers that
differ from our assumptions, and a record of every request's arrival for "no
request crossed a 429" checks (docs/simulator.md)::

    dataset = ClickDataset.generate(10_000, start=t0, end=t1, seed=1)
    attachments = AttachmentDataset.generate(2_000, start=t0, end=t1, seed=1)
    async with Simulator(SimulatorConfig(), dataset, attachments=attachments) as sim:
        ...  # point a collector at sim.base_url; compare with dataset.truth()
"""

from collector.simulator.config import SimulatorConfig, SimulatorStats
from collector.simulator.dataset import ClickDataset
from collector.simulator.faults import FAULT_KINDS, FaultPlan, QuotaConfig
from collector.simulator.kinds import KINDS, LogKind
from collector.simulator.logstore import LogDataset
from collector.simulator.quirks import QUIRKS
from collector.simulator.recording import Arrival, GateViolation, Throttle
from collector.simulator.server import Simulator
from collector.simulator.thread import SimulatorThread
from collector.simulator.ttp_datasets import AttachmentDataset, ImpersonationDataset

__all__ = [
    "FAULT_KINDS",
    "KINDS",
    "QUIRKS",
    "Arrival",
    "AttachmentDataset",
    "ClickDataset",
    "FaultPlan",
    "GateViolation",
    "ImpersonationDataset",
    "LogDataset",
    "LogKind",
    "QuotaConfig",
    "Simulator",
    "SimulatorConfig",
    "SimulatorStats",
    "SimulatorThread",
    "Throttle",
]
