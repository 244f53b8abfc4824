"""Commands return results; only collector.cli prints them and chooses the exit code."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson
import pytest

from collector import commands, probe
from collector.cli import main
from collector.result import CommandResult

SECRET = "s3cr3t-client-value"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        "[sources.clicks]\n"
        'type = "mimecast_ttp_url"\n'
        'client_id = "id"\n'
        f'client_secret = "{SECRET}"\n'
        "interval_secs = 60\n"
        "[sinks.out]\n"
        'type = "file"\n'
        f'path = "{tmp_path / "out.ndjson"}"\n'
    )
    return path


def _health_file(tmp_path: Path, last_success_at: float | None, error: str | None) -> None:
    (tmp_path / "state").mkdir(exist_ok=True)
    facts = {"interval_secs": 60, "last_success_at": last_success_at, "last_error": error}
    (tmp_path / "state" / "health.json").write_bytes(orjson.dumps({"clicks": facts}))


async def test_commands_print_nothing_and_return_what_they_would_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    not_running = await probe.health(config, CommandResult())
    _health_file(tmp_path, time.time(), None)
    ready = await probe.health(config, CommandResult())
    shown = commands.checkpoint(config, "show", argparse.Namespace(), CommandResult())
    assert capsys.readouterr() == ("", "")
    assert not_running.failed
    assert not_running.output().startswith("not ready: no readable ")
    assert ready.ok
    assert ready.lines == [
        ("stdout", "ready: every source completed a cycle within 3 x interval_secs")
    ]
    assert orjson.loads(shown.output())["clicks"]["state"] == "no checkpoint yet"


def test_the_cli_maps_results_to_exit_codes_and_scrubs_every_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    _health_file(tmp_path, time.time(), None)
    assert main(["health", "-c", str(config)]) == 0
    assert capsys.readouterr().out.startswith("ready: ")
    # A stale source whose last error quotes the configured secret (a peer echoing it).
    _health_file(tmp_path, time.time() - 3600, f"HTTP 401: bad secret {SECRET}")
    assert main(["health", "-c", str(config)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("not ready: source clicks: last completed cycle ")
    assert SECRET not in out and out.rstrip().endswith(" ***")  # scrubbed by the CLI
    (tmp_path / "c.toml").write_text("state_dir = 1\n")
    assert main(["health", "-c", str(config)]) == 2
    assert capsys.readouterr().err.startswith("config error: ")


def test_a_result_shows_each_line_as_it_is_added() -> None:
    shown: list[tuple[str, str]] = []
    result = CommandResult(lambda stream, text: shown.append((stream, text)))
    result.say("source a: OK")
    assert shown == [("stdout", "source a: OK")] and result.ok
    result.warn("slow")
    assert result.ok
    result.fail("source b: FAILED", "stdout")
    assert result.failed
    assert shown == result.lines
    assert result.output() == "source a: OK\nsource b: FAILED\n"
    assert result.output("stderr") == "slow\n"
