"""Secrets echoed back by a hostile or careless peer never leave the process (D12, D13).

A fake Mimecast on 127.0.0.1 quotes, in its errors, exactly what it received: the
OAuth2 form (with ``client_secret``), the API 1.0 ``Authorization`` header (with the
access key) or the API 2.0 bearer token. The real CLI runs as a subprocess, and every
place it prints or stores an error is searched for the secret: stdout, stderr (logs and
the final line), ``/readyz`` and ``health.json``.
"""

from __future__ import annotations

import http.server
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from collector.simulator import ClickDataset, SimulatorConfig, SimulatorThread

from .conftest import cli, settings, start_cli, wait_for, write_toml

NOW = int(time.time())

CLIENT_SECRET = "Hostile+Secret/Value=1"  # form-encoded it reads Hostile%2BSecret%2FValue%3D1
ACCESS_KEY = "access-key-hostile-42"
BEARER_TOKEN = "bearer-token-hostile-777"


class _EchoingMimecast(http.server.BaseHTTPRequestHandler):
    """401 to everything, quoting the request's form body and Authorization header."""

    issue_token = False  # True: the token endpoint grants BEARER_TOKEN

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        authorization = self.headers.get("Authorization", "")
        if self.path == "/oauth/token":
            if self.issue_token:
                self._answer(200, {"access_token": BEARER_TOKEN, "expires_in": 1800})
            else:
                self._answer(401, {"error": f"invalid_client (you sent {body})"})
            return
        message = f"rejected Authorization: {authorization}"
        self._answer(
            401,
            {
                "meta": {"status": 401},
                "data": [],
                "fail": [{"errors": [{"code": "err_auth", "message": message}]}],
            },
        )

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echoing_mimecast() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoingMimecast)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    _EchoingMimecast.issue_token = False


def _url(server: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _config(tmp_path: Path, base_url: str, auth: str, **extra: Any) -> Path:
    if auth == "oauth2":
        credentials: dict[str, Any] = {"client_id": "cid", "client_secret": CLIENT_SECRET}
    else:
        credentials = {
            "auth": "hmac",
            "app_id": "app-id",
            "app_key": "app-key-hostile-1",
            "access_key": ACCESS_KEY,
            "secret_key": "c2VjcmV0LWtleS1ieXRlcw==",
        }
    document: dict[str, Any] = {
        "state_dir": str(tmp_path / "state"),
        "log": {"format": "json", "level": "debug"},
        **extra,
        "sources": {
            "clicks": {
                "type": "mimecast_ttp_url",
                "base_url": base_url,
                "interval_secs": 1,
                "retry_max_secs": 2,
                **credentials,
            }
        },
        "sinks": {"out": {"type": "file", "path": str(tmp_path / "out.ndjson")}},
    }
    return write_toml(document, tmp_path / "collector.toml")


def _forms(secret: str) -> list[str]:
    return [secret, quote_plus(secret)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("auth", "secret", "token"),
    [
        ("oauth2", CLIENT_SECRET, False),
        ("hmac", ACCESS_KEY, False),
        ("oauth2", BEARER_TOKEN, True),
    ],
    ids=["client_secret in the token error", "access key in get-logs", "bearer token"],
)
def test_once_and_check_never_print_a_secret_a_peer_echoed(
    tmp_path: Path,
    echoing_mimecast: http.server.ThreadingHTTPServer,
    auth: str,
    secret: str,
    token: bool,
) -> None:
    _EchoingMimecast.issue_token = token
    config = _config(tmp_path, _url(echoing_mimecast), auth)
    once = cli("once", "-c", str(config), timeout=60)
    check = cli("check", "-c", str(config), timeout=60)
    assert once.returncode == 1, once.stderr
    assert check.returncode == 1, check.stdout
    # The peer's words are still quoted, only the secret is gone.
    assert "***" in once.stderr.splitlines()[-1]
    assert "source clicks: FAILED: Mimecast rejected" in check.stdout
    for output in (once.stdout, once.stderr, check.stdout, check.stderr):
        for form in _forms(secret):
            assert form not in output


def test_run_keeps_secrets_out_of_readyz_and_health_json(
    tmp_path: Path, echoing_mimecast: http.server.ThreadingHTTPServer
) -> None:
    port = _free_port()
    config = _config(
        tmp_path, _url(echoing_mimecast), "oauth2", metrics={"address": f"127.0.0.1:{port}"}
    )
    health = tmp_path / "state" / "health.json"
    log = tmp_path / "run.log"
    process = start_cli("run", "-c", str(config), log=log)
    try:
        wait_for(lambda: health.exists() and "rejected" in health.read_text(), 30, "health.json")
        readyz = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert readyz.status_code == 503
    assert "Mimecast rejected the API 2.0 client credentials" in readyz.text
    # health.json carries errors; only the collector's own user may read it.
    assert health.stat().st_mode & 0o777 == 0o600
    for text in (readyz.text, health.read_text(), log.read_text()):
        assert "invalid_client" in text or "rejected" in text
        for form in _forms(CLIENT_SECRET):
            assert form not in text


def test_credentials_in_a_sink_url_are_never_printed(tmp_path: Path) -> None:
    dataset = ClickDataset.generate(50, start=NOW - 3600, end=NOW - 60, seed=7)
    with SimulatorThread(SimulatorConfig(), dataset) as sim:
        document = settings(tmp_path, sim.base_url)
        document["log"] = {"format": "json", "level": "debug"}
        document["sinks"] = {
            "web": {
                "type": "http",
                "endpoint": "http://webuser:WEBPASS@127.0.0.1:1/ingest",
                "retry_max_secs": 1,
            }
        }
        config = str(write_toml(document, tmp_path / "c.toml"))
        once = cli("once", "-c", config, timeout=60)
        check = cli("check", "-c", config, timeout=60)
    assert once.returncode == 1
    assert "cannot reach http://***@127.0.0.1:1/ingest" in once.stderr.splitlines()[-1]
    assert "retrying" in once.stderr  # the log lines that used to carry it are there
    assert "sink web: FAILED: cannot reach http://***@127.0.0.1:1/ingest" in check.stdout
    for output in (once.stdout, once.stderr, check.stdout, check.stderr):
        assert "WEBPASS" not in output
        assert "webuser" not in output
