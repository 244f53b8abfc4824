"""``simulate --attachments N --impersonations N --deny-kind KIND``."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

import httpx
import pytest

from collector.simulator.cli import add_arguments, simulator_config

from .helpers import read_facts
from .ttp_helpers import PATHS


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_kind_options_default_to_the_url_endpoint_alone() -> None:
    args = _parse()
    assert (args.attachments, args.impersonations, args.deny_kind) == (0, 0, [])
    config = simulator_config(args)
    assert (config.denied_kinds, config.permission_error) == (frozenset(), "http_403")
    args = _parse("--deny-kind", "attachment", "--deny-kind", "url", "--permission-error", "fail")
    config = simulator_config(args)
    assert config.denied_kinds == {"attachment", "url"}
    assert config.permission_error == "fail"


def test_an_unknown_kind_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse("--deny-kind", "dlp")
    assert exit_info.value.code == 2
    assert "invalid choice: 'dlp'" in capsys.readouterr().err


def test_serve_prints_each_endpoints_count_and_denies_a_kind() -> None:
    command = [sys.executable, "-m", "collector.simulator", "--port", "0", "--clicks", "20"]
    process = subprocess.Popen(
        [*command, "--attachments", "7", "--impersonations", "4", "--deny-kind", "impersonation"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        facts = read_facts(process.stdout)
        assert (facts["clicks"], facts["attachments"], facts["impersonations"]) == ("20", "7", "4")
        token = httpx.post(
            f"{facts['base_url']}/oauth/token",
            data={
                "client_id": facts["client_id"],
                "client_secret": facts["client_secret"],
                "grant_type": "client_credentials",
            },
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        window = {"data": [{"from": facts["from"], "to": facts["to"]}]}
        served = httpx.post(f"{facts['base_url']}{PATHS['attachment']}", json=window, headers=auth)
        assert served.json()["meta"]["pagination"]["totalCount"] == 7
        denied = httpx.post(
            f"{facts['base_url']}{PATHS['impersonation']}", json=window, headers=auth
        )
        assert denied.status_code == 403
    finally:
        process.send_signal(signal.SIGINT)
        remaining, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert '"records_served":{"attachment":7}' in remaining
    assert '"permission_denied":1' in remaining
