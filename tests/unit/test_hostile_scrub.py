"""The one scrubber: registered secrets, their URL encodings, and URL userinfo (D12, D13)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import structlog
from pydantic import SecretStr

from collector.logging import configure_logging
from collector.secrets import forget_secret, redact_url, register_secret, registered_secrets, scrub
from collector.sinks import SinkContext
from collector.sinks.http.generic import HttpSinkConfig
from collector.sources.mimecast.auth import OAuth2TokenProvider


def test_one_scrubber_for_secrets_their_encodings_and_url_userinfo() -> None:
    register_secret("s3cr3t+/=value")
    text = (
        "form client_secret=s3cr3t%2B%2F%3Dvalue, raw s3cr3t+/=value, "
        "url https://user:p%40ss@host.example/x?mail=a@b.example "
        "token in https://tok3n@host.example, plain http://host.example/a@b"
    )
    assert scrub(text) == (
        "form client_secret=***, raw ***, url https://***@host.example/x?mail=a@b.example "
        "token in https://***@host.example, plain http://host.example/a@b"
    )
    assert redact_url("http://u:p@127.0.0.1:1/ingest") == "http://***@127.0.0.1:1/ingest"
    assert redact_url("https://elastic.example:9200") == "https://elastic.example:9200"


def test_a_replaced_bearer_token_is_forgotten_so_the_registry_stays_small() -> None:
    register_secret("old-token-123456")
    forget_secret("old-token-123456")
    assert "old-token-123456" not in registered_secrets()
    assert scrub("old-token-123456") == "old-token-123456"


async def test_the_bearer_token_is_a_secret_from_the_moment_it_is_fetched() -> None:
    issued: list[str] = []

    def grant(request: httpx.Request) -> httpx.Response:
        issued.append(f"bearer-{len(issued) + 1}-abcdef")
        return httpx.Response(200, json={"access_token": issued[-1], "expires_in": 1800})

    transport = httpx.MockTransport(grant)
    async with httpx.AsyncClient(base_url="https://mc.test", transport=transport) as http:
        provider = OAuth2TokenProvider("cid", SecretStr("csecret-1"))
        first = await provider.token(http)
        assert scrub(f"Authorization: Bearer {first}") == "Authorization: Bearer ***"
        provider.invalidate(first)
        second = await provider.token(http)
    assert scrub(second) == "***"
    # The replaced token no longer costs the scrubber anything.
    assert first not in registered_secrets()


def test_log_lines_are_scrubbed_even_before_any_secret_is_registered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")
    structlog.get_logger("t").warning("sink_down", url="http://u:pw-in-url@127.0.0.1:1/x")
    logging.getLogger("httpx").warning("GET http://u:pw-in-url@127.0.0.1:1/x failed")
    err = capsys.readouterr().err
    assert err.count("http://***@127.0.0.1:1/x") == 2
    assert "pw-in-url" not in err


def test_an_http_sink_repr_hides_the_credentials_of_its_endpoint(tmp_path: Path) -> None:
    config = HttpSinkConfig.model_validate(
        {"type": "http", "endpoint": "http://webuser:WEBPASS@127.0.0.1:1/ingest"}
    )
    sink = config.build("web", SinkContext(state_dir=tmp_path))
    assert repr(sink) == "HttpSink(name='web', endpoint='http://***@127.0.0.1:1/ingest')"
