"""One table of retryable HTTP statuses, for the Mimecast source and every HTTP sink.

The Mimecast cases run the real client against a real server on 127.0.0.1.
"""

from __future__ import annotations

from collections import deque

import orjson

from collector.errors import MimecastApiError
from collector.retry import RETRYABLE_STATUSES, RetryPolicy, is_retryable_status
from collector.simulator.httpserver import Request, Response
from collector.sources.mimecast.client import MimecastClient
from collector.sources.mimecast.config import MimecastSourceConfig
from collector.stats import SourceStats
from tests.http_sinks.local_server import LocalServer

CLICK = {"userEmailAddress": "a@corp.example", "url": "https://x.example/", "date": "2025-03-04"}
PAGE = {
    "meta": {"status": 200, "pagination": {"pageSize": 1}},
    "data": [{"clickLogs": [CLICK]}],
    "fail": [],
}


def test_the_table_is_408_429_and_every_5xx_but_501() -> None:
    retried = {status for status in range(100, 600) if is_retryable_status(status)}
    assert retried == {408, 429, 500, *range(502, 600)} == RETRYABLE_STATUSES
    assert 509 in retried  # Mimecast's "bandwidth exceeded"


class ScriptedMimecast:
    """Answers get-logs with the scripted answers, in order; counts the requests."""

    def __init__(self, *answers: Response) -> None:
        self.answers = deque(answers)
        self.requests = 0
        self.server = LocalServer(self._handle)

    async def _handle(self, request: Request) -> Response:
        self.requests += 1
        return self.answers.popleft()


async def fetch_from(*answers: Response) -> tuple[list[object] | Exception, int, list[float]]:
    """What the real client makes of ``answers``, served in order on 127.0.0.1: the
    records of the page it fetched (or the error it raised), the requests it made and
    the waits it took between them."""
    mimecast = ScriptedMimecast(*answers)
    await mimecast.server.start()
    config = MimecastSourceConfig.model_validate(
        {
            "type": "mimecast_ttp_url",
            "base_url": mimecast.server.url,
            "auth": "hmac",
            "app_id": "aid",
            "app_key": "akey",
            "access_key": "acc",
            "secret_key": "bXktc2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5",
        }
    )
    waits: list[float] = []

    async def sleep(secs: float) -> None:
        waits.append(secs)

    client = MimecastClient(
        "clicks", config, stats=SourceStats(), retry=RetryPolicy(max_secs=60, sleep=sleep)
    )
    outcome: list[object] | Exception
    try:
        outcome = list((await client.fetch(0, 10, None)).records)
    except MimecastApiError as exc:
        outcome = exc
    finally:
        await client.aclose()
        await mimecast.server.stop()
    assert not mimecast.server.errors
    return outcome, mimecast.requests, waits


async def test_a_mimecast_408_is_retried_not_a_failed_cycle() -> None:
    page = Response(200, orjson.dumps(PAGE))
    outcome, requests, waits = await fetch_from(Response(408, b"request timeout"), page)
    assert outcome == [CLICK]
    assert requests == 2 and len(waits) == 1


async def test_a_mimecast_501_is_not_retried() -> None:
    page = Response(200, orjson.dumps(PAGE))
    outcome, requests, waits = await fetch_from(Response(501, b"not implemented"), page)
    assert isinstance(outcome, MimecastApiError) and "501" in str(outcome)
    assert requests == 1 and waits == []
