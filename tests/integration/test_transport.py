"""TLS is always verified (ca_file for private CAs), and the proxy option is used."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import httpx
import pytest
import trustme

from collector.errors import MimecastApiError
from collector.simulator import ClickDataset, Simulator, SimulatorConfig
from collector.simulator.httpserver import HttpServer, Request, Response

from .conftest import collect_once, multiset, parse, read_lines, settings

NOW = int(time.time())


@pytest.fixture(scope="module")
def tls_server() -> tuple[ssl.SSLContext, trustme.CA]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context, ca


async def test_https_with_ca_file(
    tmp_path: Path, tls_server: tuple[ssl.SSLContext, trustme.CA]
) -> None:
    context, ca = tls_server
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    dataset = ClickDataset.generate(700, start=NOW - 3600, end=NOW - 60, seed=61)
    async with Simulator(SimulatorConfig(tls=context), dataset) as sim:
        assert sim.base_url.startswith("https://127.0.0.1:")
        document = settings(tmp_path, sim.base_url, source={"ca_file": str(ca_file)})
        assert await collect_once(parse(document)) == {"clicks": None}
    assert multiset(read_lines(tmp_path / "out" / "clicks.ndjson")) == multiset(dataset.truth())


@pytest.mark.parametrize("trust", ["system store", "another CA"])
async def test_unverifiable_certificate_fails_at_once_and_says_why(
    tmp_path: Path, tls_server: tuple[ssl.SSLContext, trustme.CA], trust: str
) -> None:
    context, _ = tls_server
    source: dict[str, object] = {"retry_max_secs": 60}
    if trust == "another CA":
        other = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(other))
        source["ca_file"] = str(other)
    async with Simulator(SimulatorConfig(tls=context), ClickDataset()) as sim:
        started = time.monotonic()
        results = await collect_once(parse(settings(tmp_path, sim.base_url, source=source)))
        served = sum(sim.stats.outcomes.values())
    error = results["clicks"]
    assert isinstance(error, MimecastApiError)
    assert "TLS certificate of the Mimecast endpoint could not be verified" in str(error)
    assert "set ca_file" in str(error)
    assert served == 0 and time.monotonic() - started < 10  # refused, not retried for 60 s


async def test_a_hostname_mismatch_gets_advice_that_helps(tmp_path: Path) -> None:
    """Doubtful item of the adversarial probe: "set ca_file" cannot fix a wrong name."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("mimecast.example").configure_cert(context)  # not 127.0.0.1
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with Simulator(SimulatorConfig(tls=context), ClickDataset()) as sim:
        source = {"ca_file": str(ca_file), "retry_max_secs": 60}
        results = await collect_once(parse(settings(tmp_path, sim.base_url, source=source)))
    error = results["clicks"]
    assert isinstance(error, MimecastApiError)
    assert "not issued for the host in the URL" in str(error)
    assert "set ca_file" not in str(error)


async def test_requests_go_through_the_configured_proxy(tmp_path: Path) -> None:
    seen: list[str] = []

    async with httpx.AsyncClient() as upstream:

        async def forward(request: Request) -> Response:
            # An HTTP forward proxy receives absolute-form targets.
            seen.append(request.path)
            answer = await upstream.request(
                request.method,
                request.path,
                content=request.body,
                headers={
                    k: v
                    for k, v in request.headers.items()
                    if k not in ("host", "proxy-connection")
                },
            )
            kept = [
                (k, v) for k, v in answer.headers.items() if k.lower().startswith("x-ratelimit")
            ]
            return Response(
                answer.status_code, answer.content, answer.headers.get("content-type", ""), kept
            )

        proxy = HttpServer(forward, "127.0.0.1", 0)
        await proxy.start()
        try:
            dataset = ClickDataset.generate(600, start=NOW - 3600, end=NOW - 60, seed=62)
            async with Simulator(SimulatorConfig(), dataset) as sim:
                base_url = sim.base_url
                document = settings(
                    tmp_path, sim.base_url, source={"proxy": f"http://127.0.0.1:{proxy.port}"}
                )
                assert await asyncio.wait_for(collect_once(parse(document)), 60) == {"clicks": None}
        finally:
            await proxy.stop()
    assert any(path.endswith("/oauth/token") for path in seen)
    assert any(path.endswith("/api/ttp/url/get-logs") for path in seen)
    assert all(path.startswith(base_url) for path in seen)
    assert multiset(read_lines(tmp_path / "out" / "clicks.ndjson")) == multiset(dataset.truth())
