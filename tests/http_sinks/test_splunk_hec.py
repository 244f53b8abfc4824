"""The splunk_hec sink against the HEC emulator: format, codes, partial batches, splits."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import structlog
from pydantic import ValidationError

from collector.config import parse_config
from collector.errors import ConfigError, SinkError, TransientSinkError
from collector.simulator.httpserver import Request, Response
from collector.sinks.http.splunk_hec import SplunkHecSinkConfig

from .hec_emulator import Fault, HecEmulator
from .helpers import VirtualTime, events
from .local_server import LocalServer

TOKEN = "hec-token-0123456789"


def options(emulator: HecEmulator, **extra: Any) -> dict[str, Any]:
    return {
        "type": "splunk_hec",
        "endpoint": emulator.url,
        "token": emulator.token,
        "index": "mimecast",
        "host": "collector-1",
        **extra,
    }


def dead_letters(tmp_path: Path, sink: str = "out") -> list[dict[str, Any]]:
    files = sorted((tmp_path / "state" / "dead-letter" / sink).glob("*.ndjson"))
    return [orjson.loads(line) for path in files for line in path.read_bytes().splitlines()]


async def test_every_object_carries_its_metadata_and_the_event_id(hec: Any, make_sink: Any) -> None:
    emulator = await hec()
    sink = await make_sink(options(emulator, compression="gzip"))
    page = events(5)
    await sink.send(page)
    assert [obj["event"] for obj in emulator.stored] == [e.data for e in page]
    for obj, event in zip(emulator.stored, page, strict=True):
        assert obj["time"] == event.time
        assert obj["fields"] == {"event_id": event.event_id}
        assert (obj["host"], obj["source"], obj["sourcetype"], obj["index"]) == (
            "collector-1",
            "mimecast-collector",
            "mimecast:ttp:url",
            "mimecast",
        )
    [request] = emulator.event_requests()
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["authorization"] == f"Splunk {TOKEN}"
    uuid.UUID(request.headers["x-splunk-request-channel"])
    assert sink.stats.bytes > 0


async def test_index_is_left_out_when_not_configured(hec: Any, make_sink: Any) -> None:
    emulator = await hec()
    sink = await make_sink({**options(emulator), "index": None, "compression": "none"})
    await sink.send(events(1))
    assert "index" not in emulator.stored[0]
    assert "content-encoding" not in emulator.event_requests()[0].headers


async def test_a_page_is_split_by_events_and_by_bytes_before_sending(
    hec: Any, make_sink: Any
) -> None:
    emulator = await hec()
    sink = await make_sink(options(emulator, max_batch_events=4))
    await sink.send(events(10))
    assert [r.objects for r in emulator.event_requests()] == [4, 4, 2]

    one = len(sink.encode(events(1)[0]))
    emulator.log.clear()
    small = await make_sink(options(emulator, max_batch_bytes=max(1024, one * 3 + 10)), name="b")
    await small.send(events(10, start=100))
    sizes = [r.objects for r in emulator.event_requests()]
    assert sum(sizes) == 10
    assert max(sizes) <= max(1024, one * 3 + 10) // one
    assert len(emulator.stored) == 20


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [
        (503, 9, "Server is busy"),
        (500, 8, "Internal server error"),
        (408, None, "Request Timeout"),
        (429, None, "Too Many Requests"),
        (502, None, "Bad Gateway"),
        (504, None, "Gateway Timeout"),
    ],
)
async def test_retryable_answers_are_retried_and_stored_once(
    hec: Any, make_sink: Any, vtime: VirtualTime, status: int, code: int | None, text: str
) -> None:
    emulator = await hec()
    emulator.fail_next(Fault("status", status=status, code=code, text=text), count=2)
    sink = await make_sink(options(emulator), retry=vtime.policy())
    page = events(3)
    await sink.send(page)
    assert [r.status for r in emulator.event_requests()] == [status, status, 200]
    assert emulator.event_ids() == [e.event_id for e in page]
    assert len(vtime.waits) == 2
    assert sink.stats.retries == 2


async def test_retry_after_is_honoured(hec: Any, make_sink: Any, vtime: VirtualTime) -> None:
    emulator = await hec()
    emulator.fail_next(Fault("status", status=429, code=None, text="slow down", retry_after="7"))
    sink = await make_sink(options(emulator), retry=vtime.policy())
    await sink.send(events(1))
    assert 7.0 <= vtime.waits[0] <= 9.0


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (
            Fault("status", status=403, code=1, text="Token disabled"),
            'HTTP 403, code 1: "Token disabled"',
        ),
        (Fault("status", status=401, code=2, text="Token is required"), "code 2"),
        (Fault("status", status=401, code=3, text="Invalid authorization"), "code 3"),
        (Fault("status", status=403, code=4, text="Invalid token"), 'code 4: "Invalid token"'),
    ],
)
async def test_token_errors_stop_at_once_with_hecs_words(
    hec: Any, make_sink: Any, vtime: VirtualTime, fault: Fault, words: str
) -> None:
    emulator = await hec()
    emulator.fail_next(fault)
    sink = await make_sink(options(emulator), retry=vtime.policy())
    with pytest.raises(SinkError) as raised:
        await sink.send(events(2))
    assert not isinstance(raised.value, TransientSinkError)
    message = str(raised.value)
    assert message.startswith("sink out: ")
    assert words in message
    assert "token was rejected" in message
    assert TOKEN not in message
    assert len(emulator.event_requests()) == 1
    assert vtime.waits == []


async def test_a_real_wrong_token_is_refused_by_the_emulator_and_reported(
    hec: Any, make_sink: Any
) -> None:
    emulator = await hec()
    sink = await make_sink({**options(emulator), "token": "wrong-token-abcdef"})
    with pytest.raises(SinkError, match='HTTP 403, code 4: "Invalid token"') as raised:
        await sink.send(events(1))
    assert "wrong-token-abcdef" not in str(raised.value)
    assert emulator.stored == []


async def test_invalid_event_number_keeps_the_prefix_sets_n_aside_and_resends_the_rest(
    hec: Any, make_sink: Any, tmp_path: Path
) -> None:
    emulator = await hec()
    emulator.fail_next(Fault("invalid", status=400, code=6, text="Invalid data format", at=4))
    sink = await make_sink(options(emulator))
    page = events(10)
    await sink.send(page)
    # Objects 0-3 indexed by the first request, 5-9 by the second; 4 set aside.
    expected = [e.event_id for i, e in enumerate(page) if i != 4]
    assert emulator.event_ids() == expected
    assert [(r.status, r.objects) for r in emulator.event_requests()] == [(400, 10), (200, 5)]
    [letter] = dead_letters(tmp_path)
    assert letter["event_id"] == page[4].event_id
    assert letter["event"] == page[4].data
    assert (letter["status"], letter["error_type"], letter["reason"]) == (
        400,
        "hec_code_6",
        "Invalid data format",
    )
    assert sink.stats.dead_lettered == 1


async def test_two_bad_objects_in_one_batch_are_each_set_aside_once(
    hec: Any, make_sink: Any, tmp_path: Path
) -> None:
    emulator = await hec()
    emulator.fail_next(
        Fault("invalid", status=400, code=13, text="Event field cannot be blank", at=0)
    )
    emulator.fail_next(
        Fault("invalid", status=400, code=15, text="Error in handling indexed fields", at=2)
    )
    sink = await make_sink(options(emulator))
    page = events(6)
    await sink.send(page)
    assert emulator.event_ids() == [page[i].event_id for i in (1, 2, 4, 5)]
    assert [d["event_id"] for d in dead_letters(tmp_path)] == [page[0].event_id, page[3].event_id]
    assert [d["error_type"] for d in dead_letters(tmp_path)] == ["hec_code_13", "hec_code_15"]


async def test_a_request_over_the_size_limit_is_split(
    hec: Any, make_sink: Any, tmp_path: Path
) -> None:
    emulator = await hec()
    sink = await make_sink(options(emulator, compression="none"))
    one = len(sink.encode(events(1)[0]))
    emulator.max_content_length = one * 3 + 5
    page = events(8)
    await sink.send(page)
    assert sorted(emulator.event_ids()) == sorted(e.event_id for e in page)
    statuses = [r.status for r in emulator.event_requests()]
    assert statuses[0] == 413
    assert statuses.count(200) >= 3
    assert dead_letters(tmp_path) == []


async def test_a_single_event_over_the_size_limit_is_dead_lettered(
    hec: Any, make_sink: Any, tmp_path: Path
) -> None:
    emulator = await hec(max_content_length=50)
    sink = await make_sink(options(emulator, compression="none"))
    await sink.send(events(2))
    assert emulator.stored == []
    assert [d["status"] for d in dead_letters(tmp_path)] == [413, 413]


async def test_when_the_budget_is_spent_send_raises_a_plain_sink_error(
    hec: Any, make_sink: Any, vtime: VirtualTime
) -> None:
    emulator = await hec()
    emulator.fail_next(Fault("status", status=503, code=9, text="Server is busy"), count=1000)
    sink = await make_sink(options(emulator, retry_max_secs=30), retry=vtime.policy(max_secs=30))
    with pytest.raises(SinkError) as raised:
        await sink.send(events(3))
    assert not isinstance(raised.value, TransientSinkError)  # the pipeline must not retry too
    message = str(raised.value)
    assert "3 of 3 events not delivered" in message
    assert 'HTTP 503, code 9: "Server is busy"' in message
    attempts = len(emulator.event_requests())
    assert attempts == len(vtime.waits) + 1
    assert sum(vtime.waits) <= 30


async def test_a_lost_answer_is_sent_again_and_may_double(hec: Any, make_sink: Any) -> None:
    # HEC has no idempotency key: this is the documented duplicate window.
    emulator = await hec()
    emulator.fail_next(Fault("drop_after_index"))
    sink = await make_sink(options(emulator, retry_initial_backoff_secs=0.01))
    page = events(2)
    await sink.send(page)
    assert emulator.event_ids() == [e.event_id for e in page] * 2


async def test_a_connection_dropped_before_indexing_is_retried_without_loss(
    hec: Any, make_sink: Any
) -> None:
    emulator = await hec()
    emulator.fail_next(Fault("drop"))
    sink = await make_sink(options(emulator, retry_initial_backoff_secs=0.01))
    page = events(2)
    await sink.send(page)
    assert emulator.event_ids() == [e.event_id for e in page]


async def test_a_200_that_is_not_hecs_answer_is_never_taken_for_a_delivery(
    servers: Any, make_sink: Any
) -> None:
    async def login_page(request: Request) -> Response:
        return Response(200, b"<html>Splunk login</html>", "text/html")

    server = LocalServer(login_page)
    await server.start()
    servers.append(server)
    sink = await make_sink({"type": "splunk_hec", "endpoint": server.url, "token": TOKEN})
    with pytest.raises(SinkError, match=r"HTTP 200: <html>Splunk login</html>.*not a HEC answer"):
        await sink.send(events(1))


async def test_other_400_codes_fail_with_a_hint(hec: Any, make_sink: Any) -> None:
    emulator = await hec(allowed_indexes=("main",))
    sink = await make_sink(options(emulator))
    with pytest.raises(SinkError, match=r'code 7: "Incorrect index".*not allowed for this token'):
        await sink.send(events(1))


async def test_healthcheck_checks_health_and_the_token(hec: Any, make_sink: Any) -> None:
    emulator = await hec()
    sink = await make_sink(options(emulator))
    await sink.healthcheck()
    assert emulator.stored == []
    emulator.healthy = False
    with pytest.raises(SinkError, match="code 18"):
        await sink.healthcheck()
    emulator.healthy = True
    bad = await make_sink({**options(emulator), "token": "not-the-token"}, name="bad")
    with pytest.raises(SinkError, match=r"token probe.*code 4"):
        await bad.healthcheck()


async def test_the_channel_is_kept_across_restarts(
    hec: Any, make_sink: Any, tmp_path: Path
) -> None:
    emulator = await hec()
    first = await make_sink(options(emulator))
    await first.send(events(1))
    await first.aclose()
    again = await make_sink(options(emulator))
    await again.send(events(1, start=1))
    channels = {r.headers["x-splunk-request-channel"] for r in emulator.event_requests()}
    stored = (tmp_path / "state" / "sinks" / "out" / "hec-channel").read_text().strip()
    assert channels == {stored}


def test_config_rejects_plain_http_to_a_remote_host_and_a_short_retry_budget() -> None:
    base = {"type": "splunk_hec", "token": "t0123456789"}
    with pytest.raises(ValidationError, match="must use https"):
        SplunkHecSinkConfig.model_validate({**base, "endpoint": "http://splunk.example.net:8088"})
    with pytest.raises(ValidationError, match="ack_timeout_secs: must be less than retry_max_secs"):
        SplunkHecSinkConfig.model_validate(
            {
                **base,
                "endpoint": "https://s:8088",
                "acknowledgements": True,
                "ack_timeout_secs": 400,
            }
        )
    with pytest.raises(ValidationError, match="must be a GUID"):
        SplunkHecSinkConfig.model_validate({**base, "endpoint": "https://s:8088", "channel": "x"})


def test_the_token_may_come_from_a_file_and_is_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("file-token-9876543210\n")
    config = parse_config(
        {
            "state_dir": str(tmp_path),
            "sources": {"s": {"type": "mimecast_ttp_url", "client_id": "i", "client_secret": "x"}},
            "sinks": {
                "splunk": {
                    "type": "splunk_hec",
                    "endpoint": "https://splunk:8088",
                    "token_file": str(secret),
                }
            },
        }
    )
    sink_config = config.sinks["splunk"]
    assert isinstance(sink_config, SplunkHecSinkConfig)
    assert sink_config.token.get_secret_value() == "file-token-9876543210"
    assert "file-token" not in repr(sink_config)
    with pytest.raises(ConfigError, match=r"sinks\.splunk\.max_batch_events: must be >= 1"):
        parse_config(
            {
                "state_dir": str(tmp_path),
                "sources": {
                    "s": {"type": "mimecast_ttp_url", "client_id": "i", "client_secret": "x"}
                },
                "sinks": {
                    "splunk": {
                        "type": "splunk_hec",
                        "endpoint": "https://s",
                        "token": "t",
                        "max_batch_events": 0,
                    }
                },
            }
        )


async def test_a_token_echoed_by_the_receiver_is_scrubbed_from_errors_and_logs(
    hec: Any, make_sink: Any, vtime: VirtualTime
) -> None:
    emulator = await hec(token="echoed-secret-token-42")
    emulator.fail_next(Fault("status", status=503, code=9, text="busy for echoed-secret-token-42"))
    emulator.fail_next(Fault("status", status=403, code=4, text="bad echoed-secret-token-42"))
    sink = await make_sink(options(emulator), retry=vtime.policy())
    with structlog.testing.capture_logs() as logs, pytest.raises(SinkError) as raised:
        await sink.send(events(1))
    assert 'code 4: "bad ***"' in str(raised.value)
    assert logs  # the 503 was logged as a retry...
    assert all("echoed-secret-token-42" not in str(entry) for entry in logs)  # ...scrubbed


async def test_the_emulator_answers_every_documented_code(hec: Any) -> None:
    # The emulator must be faithful for the tests above to mean anything.
    acking = await hec(use_ack=True, disabled_tokens=("off-token-123456",))
    plain = await hec()
    auth = {"Authorization": f"Splunk {TOKEN}"}
    channel = {"X-Splunk-Request-Channel": str(uuid.uuid4())}
    event = "/services/collector/event"
    cases = [
        (acking, event, {}, b'{"event":1}', 401, 2),
        (acking, event, {"Authorization": "Bearer x"}, b'{"event":1}', 401, 3),
        (acking, event, {"Authorization": "Splunk nope"}, b'{"event":1}', 403, 4),
        (acking, event, {"Authorization": "Splunk off-token-123456"}, b"{}", 403, 1),
        (acking, event + "?token=" + TOKEN, {}, b'{"event":1}', 400, 16),
        (acking, event, auth, b'{"event":1}', 400, 10),
        (acking, event, {**auth, "X-Splunk-Request-Channel": "x"}, b'{"event":1}', 400, 11),
        (acking, event, {**auth, **channel}, b"", 400, 5),
        (acking, event, {**auth, **channel}, b'{"event":1}{"time":1}', 400, 12),
        (acking, event, {**auth, **channel}, b'{"event":""}', 400, 13),
        (acking, event, {**auth, **channel}, b'{"event":1,"fields":{"a":{"b":1}}}', 400, 15),
        (acking, event, {**auth, **channel}, b'{"event":1} not json', 400, 6),
        (plain, "/services/collector/ack", auth, b'{"acks":[0]}', 400, 14),
        (plain, event, {**auth, "Content-Encoding": "deflate"}, b"x", 415, None),
    ]
    async with httpx.AsyncClient() as raw:
        for emulator, path, headers, body, status, code in cases:
            answer = await raw.post(emulator.url + path, headers=headers, content=body)
            assert answer.status_code == status, (path, headers, body)
            if code is not None:
                assert answer.json()["code"] == code, (path, headers, body)
        partial = await raw.post(
            acking.url + event, headers={**auth, **channel}, content=b'{"event":1}{"time":2}'
        )
    assert partial.json() == {
        "text": "Event field is required",
        "code": 12,
        "invalid-event-number": 1,
    }
    # The objects before each bad one were indexed: codes 12, 6, and 12 again.
    assert [obj["event"] for obj in acking.stored] == [1, 1, 1]
