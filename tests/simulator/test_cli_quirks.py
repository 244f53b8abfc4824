"""``simulate --quirk/--fault/--gate-*``: parsed into the config, refused with exit 2 when wrong."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys

import httpx
import orjson
import pytest

from collector.simulator import FAULT_KINDS, QUIRKS
from collector.simulator.cli import add_arguments, fault_rates, simulator_config

from .helpers import read_facts


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_no_quirk_by_default() -> None:
    config = simulator_config(_parse())
    assert (config.empty_page, config.total_count, config.page_cycle) == ("none", "exact", "none")
    assert (config.to_inclusive, config.page_token_ttl_secs, config.endless_from_page) == (
        True,
        None,
        None,
    )
    assert (config.ratelimit_headers_missing_rate, config.ratelimit_headers_missing_every) == (
        0.0,
        0,
    )
    assert fault_rates(_parse()) is None


def test_every_quirk_reaches_the_config() -> None:
    args = _parse(
        *("--quirk", "empty_page=same_token"),
        *("--quirk", "token_ttl=2.5"),
        *("--quirk", "total_count=double"),
        *("--quirk", "to=exclusive"),
        *("--quirk", "cycle"),
        *("--quirk", "endless=3"),
        *("--quirk", "headers_missing=0.25"),
        *("--quirk", "headers_missing_every=4"),
    )
    config = simulator_config(args)
    assert config.empty_page == "same_token"
    assert config.page_token_ttl_secs == 2.5
    assert config.total_count == "double"
    assert config.to_inclusive is False
    assert config.page_cycle == "previous"
    assert config.endless_from_page == 3
    assert config.ratelimit_headers_missing_rate == 0.25
    assert config.ratelimit_headers_missing_every == 4


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["--quirk", "cycle=first"], "page_cycle", "first"),
        (["--quirk", "endless"], "endless_from_page", -1),
        (["--quirk", "endless=last"], "endless_from_page", -1),
        (["--quirk", "to=inclusive"], "to_inclusive", True),
        (["--empty-page-with-next"], "empty_page", "fresh_token"),
        (
            ["--empty-page-with-next", "--quirk", "empty_page=size0_next"],
            "empty_page",
            "size0_next",
        ),
        (["--page-token-ttl-secs", "7"], "page_token_ttl_secs", 7.0),
    ],
)
def test_quirk_values_and_older_flags(argv: list[str], field: str, value: object) -> None:
    assert getattr(simulator_config(_parse(*argv)), field) == value


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--quirk", "sometimes"], "unknown quirk 'sometimes'"),
        (["--quirk", "empty_page=maybe"], "quirk empty_page: expected one of"),
        (["--quirk", "empty_page"], "quirk empty_page: expected one of"),
        (["--quirk", "token_ttl"], "quirk token_ttl: needs a value"),
        (["--quirk", "endless=soon"], "quirk endless"),
        (["--fault", "meteor=0.1"], "unknown fault kind 'meteor'"),
        (["--fault", "rate_limit_burst"], "expected KIND=RATE"),
        (["--fault", "rate_limit_burst=2"], "expected KIND=RATE"),
    ],
)
def test_bad_quirk_or_fault_is_a_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse(*argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_fault_rates_add_up() -> None:
    args = _parse("--fault-rate", "0.4", "--fault", "rate_limit=0.1", "--fault", "drop=0.2")
    rates = fault_rates(args)
    assert rates is not None
    assert rates["rate_limit"] == pytest.approx(0.2) and rates["drop"] == pytest.approx(0.3)
    assert rates["server_error"] == pytest.approx(0.1)


def test_help_lists_every_quirk_and_fault_kind() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", "simulate", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    text = " ".join(result.stdout.split())
    for name, (_, description) in QUIRKS.items():
        assert " ".join(f"{name}{description}".split()) in text
    for kind in FAULT_KINDS:
        # \b treats "_" as a word character: rate_limit does not match rate_limit_burst.
        assert re.search(rf"\b{kind}\b", text), kind


@pytest.mark.parametrize(
    "argv",
    [
        ["--quirk", "headers_missing=2"],  # the range is checked by the config
        ["--fault", "drop=0.7", "--fault", "slow=0.7"],  # more than 1 in all
    ],
)
def test_values_out_of_range_exit_2_before_serving(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collector.simulator", "--port", "0", "--clicks", "10", *argv],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("simulate: usage error:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "ready" not in result.stdout


def test_serve_with_quirks_counts_gate_violations() -> None:
    command = [sys.executable, "-m", "collector.simulator", "--port", "0", "--clicks", "50"]
    process = subprocess.Popen(
        [
            *command,
            *("--quirk", "empty_page=same_token"),
            *("--fault", "rate_limit_no_reset=1"),
            *("--gate-slack-ms", "0", "--gate-assumed-wait-ms", "60000"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        facts = read_facts(process.stdout)
        token = httpx.post(
            f"{facts['base_url']}/oauth/token",
            data={
                "client_id": facts["client_id"],
                "client_secret": facts["client_secret"],
                "grant_type": "client_credentials",
            },
        ).json()["access_token"]
        for _ in range(3):
            response = httpx.post(
                f"{facts['base_url']}/api/ttp/url/get-logs",
                json={"data": [{"from": facts["from"], "to": facts["to"]}]},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 429
            assert "x-ratelimit-reset" not in response.headers
    finally:
        process.send_signal(signal.SIGINT)
        remaining, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    stats = orjson.loads(remaining.strip().splitlines()[-1].removeprefix("stats="))
    assert stats["outcomes"] == {"rate_limit_no_reset": 3}
    assert stats["rate_limited"] == 3
    assert stats["gate_violations"] == 2  # the 2nd and 3rd came within the assumed 60 s
