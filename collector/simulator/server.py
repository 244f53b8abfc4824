"""The :class:`Simulator`: a fake Mimecast API on a real socket.

It wires the HTTP server to three endpoints: ``POST /oauth/token``,
``POST /api/ttp/url/get-logs`` and a Mimecast-style 404/405 for everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from types import TracebackType

from collector.httpserver import HttpServer, Request, Response
from collector.simulator.api import GET_LOGS_PATH, GetLogsApi
from collector.simulator.auth import Authenticator, HmacVerifier, TokenStore, token_endpoint
from collector.simulator.config import SimulatorConfig, SimulatorStats
from collector.simulator.dataset import ClickDataset
from collector.simulator.envelope import mimecast_error
from collector.simulator.faults import FaultPlan
from collector.simulator.generator import ClickFactory
from collector.simulator.live import LiveFeeder

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a secret


class Simulator:
    """A simulated Mimecast URL Protection logs API.

    Args:
        config: settings; defaults to ``SimulatorConfig()``.
        dataset: the clicks to serve; defaults to an empty dataset.
        faults: the fault plan; defaults to no faults.

    Attributes:
        config: the settings in use.
        dataset: the clicks served (the ground truth for tests).
        faults: the fault plan; schedule faults on it at any time.
        stats: counters of what was served.

    Use as ``async with Simulator(...) as sim:`` or call :meth:`start` and
    :meth:`stop`.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        dataset: ClickDataset | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.config = config if config is not None else SimulatorConfig()
        self.dataset = dataset if dataset is not None else ClickDataset()
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
        )
        self._server = HttpServer(
            self._route,
            self.config.host,
            self.config.port,
            on_error=self._record_error,
            tls=self.config.tls,
        )
        self._live: asyncio.Task[None] | None = None
        self._live_rng = random.Random(f"live:{self.config.seed}")
        self._live_factory = ClickFactory(self.config.seed + 1_000_003)
        self.last_error: BaseException | None = None

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
    ) -> None:
        """Start adding new clicks in the background (needs a running event loop).

        Args:
            rate_per_sec: clicks per second.
            late_fraction: share of clicks published late: their ``date`` is
                ``now - delay`` but they become visible only now.
            max_delay_secs: a late click's delay is uniform in ``[1, max_delay_secs]``.
            duplicate_fraction: share of clicks that copy a recent click byte for byte.
        """
        if self._live is not None:
            raise RuntimeError("live mode is already running")
        feeder = LiveFeeder(
            self.dataset,
            self._live_factory,
            self._live_rng,
            rate_per_sec=rate_per_sec,
            late_fraction=late_fraction,
            max_delay_secs=max_delay_secs,
            duplicate_fraction=duplicate_fraction,
        )
        self._live = asyncio.get_running_loop().create_task(feeder.run(), name="simulator-live")

    async def stop_live(self) -> None:
        """Stop live mode, if running."""
        task, self._live = self._live, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _record_error(self, error: BaseException) -> None:
        self.stats.internal_errors += 1
        self.last_error = error

    async def _route(self, request: Request) -> Response:
        self.stats.requests[request.path] += 1
        if request.path == GET_LOGS_PATH:
            if request.method != "POST":
                return _method_not_allowed()
            return await self.api.handle(request)
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
