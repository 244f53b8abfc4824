"""The ``simulate`` command: options, the facts it prints, a clean stop on SIGINT."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

import httpx
import orjson
import pytest

from collector.simulator import QuotaConfig
from collector.simulator.cli import add_arguments

from .helpers import read_facts


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_and_quota_option() -> None:
    args = _parse()
    assert (args.host, args.port, args.clicks, args.days) == ("127.0.0.1", 8080, 10_000, 7.0)
    assert (args.live_rate, args.fault_rate, args.quota) == (0.0, 0.0, None)
    assert _parse("--quota", "100/36").quota == QuotaConfig(100, 36.0)


@pytest.mark.parametrize("bad", ["100", "x/36", "100/0", "0/10"])
def test_bad_quota_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse("--quota", bad)
    assert exit_info.value.code == 2
    assert "LIMIT/PERIOD_SECS" in capsys.readouterr().err


def test_serve_prints_facts_serves_and_stops_on_sigint() -> None:
    command = [sys.executable, "-m", "collector.simulator", "--port", "0", "--clicks", "250"]
    process = subprocess.Popen(
        [*command, "--quota", "100/36", "--empty-page-with-next", "--live-rate", "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        facts = read_facts(process.stdout)
        assert facts["clicks"] == "250"
        assert facts["base_url"].startswith("http://127.0.0.1:")
        for name in ("client_id", "client_secret", "app_id", "app_key", "access_key", "secret_key"):
            assert facts[name]
        token = httpx.post(
            f"{facts['base_url']}/oauth/token",
            data={
                "client_id": facts["client_id"],
                "client_secret": facts["client_secret"],
                "grant_type": "client_credentials",
            },
        ).json()["access_token"]
        response = httpx.post(
            f"{facts['base_url']}/api/ttp/url/get-logs",
            json={"data": [{"from": facts["from"], "to": facts["to"]}]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.headers["x-ratelimit-limit"] == "100"
        # Live clicks published late may already fall inside the window.
        assert response.json()["meta"]["pagination"]["totalCount"] >= 250
    finally:
        process.send_signal(signal.SIGINT)
        remaining, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    stats = orjson.loads(remaining.strip().splitlines()[-1].removeprefix("stats="))
    assert stats["outcomes"] == {"ok": 1}
    assert stats["tokens_issued"] == 1
