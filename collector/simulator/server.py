"""The :class:`Simulator`: a fake Mimecast API on a real socket.

It wires the HTTP server to ``POST /oauth/token``, the three TTP get-logs
endpoints (``/api/ttp/url/get-logs``, ``/api/ttp/attachment/get-logs``,
``/api/ttp/impersonation/get-logs``; kinds.py) and a Mimecast-style 404/405 for
everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from collector.simulator.api import GetLogsApi
from collector.simulator.auth import Authenticator, HmacVerifier, TokenStore, token_endpoint
from collector.simulator.config import SimulatorConfig, SimulatorStats
from collector.simulator.dataset import ClickDataset
from collector.simulator.envelope import mimecast_error
from collector.simulator.faults import FaultPlan
from collector.simulator.generator import ClickFactory
from collector.simulator.httpserver import HttpServer, Request, Response
from collector.simulator.kinds import KINDS
from collector.simulator.live import LiveFeeder, MakeOne
from collector.simulator.logstore import LogDataset
from collector.simulator.ttp_datasets import AttachmentDataset, ImpersonationDataset
from collector.simulator.ttp_generator import AttachmentFactory, ImpersonationFactory

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a secret
_KIND_BY_PATH = {kind.path: name for name, kind in KINDS.items()}


class Simulator:
    """A simulated Mimecast TTP logs API (URL, attachment and impersonation logs).

    Args:
        config: settings; defaults to ``SimulatorConfig()``.
        dataset: the clicks to serve; defaults to an empty dataset.
        faults: the fault plan; defaults to no faults.
        attachments: the attachment logs to serve; defaults to an empty dataset.
        impersonations: the impersonation logs to serve; defaults to an empty dataset.

    Attributes:
        config: the settings in use.
        dataset: the clicks served (the ground truth for tests).
        attachments: the attachment logs served.
        impersonations: the impersonation logs served.
        faults: the fault plan, shared by the three endpoints; schedule faults on
            it at any time.
        stats: counters of what was served.

    Use as ``async with Simulator(...) as sim:`` or call :meth:`start` and
    :meth:`stop`.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        dataset: ClickDataset | None = None,
        faults: FaultPlan | None = None,
        *,
        attachments: AttachmentDataset | None = None,
        impersonations: ImpersonationDataset | None = None,
    ) -> None:
        self.config = config if config is not None else SimulatorConfig()
        self.dataset = dataset if dataset is not None else ClickDataset()
        self.attachments = attachments if attachments is not None else AttachmentDataset()
        self.impersonations = (
            impersonations if impersonations is not None else ImpersonationDataset()
        )
        self.faults = faults if faults is not None else FaultPlan(seed=self.config.seed)
        self.stats = SimulatorStats()
        self.tokens = TokenStore(self.config.token_ttl_secs)
        verifier = HmacVerifier(
            app_id=self.config.app_id,
            app_key=self.config.app_key,
            access_key=self.config.access_key,
            secret_key=self.config.secret_key,
        )
        self.api = GetLogsApi(
            config=self.config,
            dataset=self.dataset,
            faults=self.faults,
            auth=Authenticator(self.tokens, verifier),
            tokens=self.tokens,
            stats=self.stats,
            others={"attachment": self.attachments, "impersonation": self.impersonations},
        )
        self._server = HttpServer(
            self._route,
            self.config.host,
            self.config.port,
            on_error=self._record_error,
            tls=self.config.tls,
        )
        self._live: list[asyncio.Task[None]] = []
        self.last_error: BaseException | None = None

    @property
    def datasets(self) -> dict[str, LogDataset]:
        """Every endpoint's records by kind: ``url``, ``attachment``, ``impersonation``."""
        return {
            "url": self.dataset,
            "attachment": self.attachments,
            "impersonation": self.impersonations,
        }

    @property
    def port(self) -> int:
        """The port the simulator listens on."""
        return self._server.port

    @property
    def base_url(self) -> str:
        """``http://host:port``, the base URL a collector should use."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.config.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Start listening."""
        await self._server.start()

    async def stop(self) -> None:
        """Stop live mode and close every connection."""
        await self.stop_live()
        await self._server.stop()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def issue_token(self) -> str:
        """Return a valid OAuth bearer token without an HTTP round trip."""
        self.stats.tokens_issued += 1
        return self.tokens.issue()

    def start_live(
        self,
        rate_per_sec: float,
        *,
        late_fraction: float = 0.2,
        max_delay_secs: float = 120.0,
        duplicate_fraction: float = 0.02,
        kinds: Iterable[str] = ("url",),
    ) -> None:
        """Start adding new records in the background (needs a running event loop).

        Args:
            rate_per_sec: records per second, for each kind.
            late_fraction: share of records published late: their date is
                ``now - delay`` but they become visible only now.
            max_delay_secs: a late record's delay is uniform in ``[1, max_delay_secs]``.
            duplicate_fraction: share of records that copy a recent one byte for byte.
            kinds: the endpoints that get new records (``url``, ``attachment``,
                ``impersonation``).
        """
        if self._live:
            raise RuntimeError("live mode is already running")
        kinds = tuple(dict.fromkeys(kinds))
        unknown = [kind for kind in kinds if kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind {unknown[0]!r}; known: {', '.join(KINDS)}")
        feeders = [
            LiveFeeder(
                self.datasets[kind],
                self._live_maker(kind),
                # The URL feeder keeps the seed string it always had.
                random.Random(
                    f"live:{self.config.seed}"
                    if kind == "url"
                    else f"live-{kind}:{self.config.seed}"
                ),
                rate_per_sec=rate_per_sec,
                late_fraction=late_fraction,
                max_delay_secs=max_delay_secs,
                duplicate_fraction=duplicate_fraction,
            )
            for kind in kinds
        ]
        loop = asyncio.get_running_loop()
        self._live = [loop.create_task(f.run(), name="simulator-live") for f in feeders]

    def _live_maker(self, kind: str) -> MakeOne:
        """Return the one-record maker of ``kind``'s live feeder (raises KeyError if unknown)."""
        seed = self.config.seed + 1_000_003
        if kind == "url":
            clicks = ClickFactory(seed)

            def make_click(date: int) -> tuple[bytes, tuple[str, str]]:
                blob, route, scan = clicks.make(date)
                return blob, (route, scan)

            return make_click
        records: AttachmentFactory | ImpersonationFactory = (
            AttachmentFactory(seed) if kind == "attachment" else ImpersonationFactory(seed)
        )

        def make_record(date: int) -> tuple[bytes, Any]:
            blobs, facets = records.make_many([date])
            return blobs[0], facets[0]

        return make_record

    async def stop_live(self) -> None:
        """Stop live mode, if running."""
        tasks, self._live = self._live, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _record_error(self, error: BaseException) -> None:
        self.stats.internal_errors += 1
        self.last_error = error

    async def _route(self, request: Request) -> Response:
        self.stats.requests[request.path] += 1
        kind = _KIND_BY_PATH.get(request.path)
        if kind is not None:
            if request.method != "POST":
                return _method_not_allowed()
            return await self.api.handle(request, kind)
        if request.path == TOKEN_PATH:
            if request.method != "POST":
                return _method_not_allowed()
            response = token_endpoint(
                request,
                client_id=self.config.client_id,
                client_secret=self.config.client_secret,
                tokens=self.tokens,
                ttl_secs=math.ceil(self.config.token_ttl_secs),
            )
            if response.status == 200:
                self.stats.tokens_issued += 1
            return response
        return mimecast_error(404, "err_xdk_not_found", f"No such endpoint: {request.path}")


def _method_not_allowed() -> Response:
    response = mimecast_error(405, "err_xdk_method_not_allowed", "Method not allowed")
    response.headers.append(("Allow", "POST"))
    return response
