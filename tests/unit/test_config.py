"""Config validation: the documented example, and one clear line per problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from collector.config import load_config
from collector.errors import ConfigError

EXAMPLE = """
state_dir = "{state}"

[sources.url_clicks]
type = "mimecast_ttp_url"
base_url = "https://api.services.mimecast.com"
auth = "oauth2"                      # or "hmac": app_id, app_key, access_key, secret_key
client_id = "${{MIMECAST_CLIENT_ID}}"
client_secret_file = "{secret}"
interval_secs = 300
initial_lookback_secs = 86400
page_size = 500
route = "all"
scan_result = "all"
lag_secs = 60
overlap_secs = 900

[sinks.archive]
type = "file"
path = "/var/log/mimecast/url-clicks.ndjson"
max_bytes = 104857600
keep = 10
compress = true
"""

SECRET = "the-client-secret-value"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    secret = tmp_path / "client_secret"
    secret.write_text(SECRET + "\n")
    monkeypatch.setenv("MIMECAST_CLIENT_ID", "my-client-id")
    path = tmp_path / "collector.toml"
    path.write_text(EXAMPLE.format(state=tmp_path / "state", secret=secret))
    return path


def test_issue_example_is_accepted_as_written(example: Path) -> None:
    config = load_config(example)
    source = config.sources["url_clicks"]
    assert source.client_id == "my-client-id"
    assert source.client_secret is not None
    assert source.client_secret.get_secret_value() == SECRET
    assert SECRET not in repr(config) and SECRET not in str(config)
    assert config.sinks_for("url_clicks") == ["archive"]


def problems(path: Path, text: str) -> list[str]:
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def edit(example: Path, old: str, new: str) -> str:
    text = example.read_text()
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("page_size = 500", "page_size = 501", "sources.url_clicks.page_size: must be <= 500"),
        (
            "interval_secs = 300",
            "interval_secs = 0",
            "sources.url_clicks.interval_secs: must be >= 1",
        ),
        ("lag_secs = 60", "lag_secs = -1", "sources.url_clicks.lag_secs: must be >= 0"),
        ("lag_secs = 60", 'lag_secs = "soon"', "sources.url_clicks.lag_secs: must be an integer"),
        (
            'client_id = "${MIMECAST_CLIENT_ID}"\n',
            "",
            'sources.url_clicks.client_id: is required when auth = "oauth2"',
        ),
        ("state_dir = ", "state_directory = ", "state_dir: is required"),
        ("keep = 10", "keep = 10\nkeeep = 3", "sinks.archive.keeep: unknown key"),
        ('type = "file"', 'type = "fiel"', "sinks.archive.type: unknown sink type 'fiel'"),
        (
            "https://api.services.mimecast.com",
            "http://api.services.mimecast.com",
            "sources.url_clicks.base_url: must use https",
        ),
        (
            'route = "all"',
            'route = "sideways"',
            "sources.url_clicks.route: must be 'all', 'inbound', 'outbound' or 'internal'",
        ),
        (
            'client_id = "${MIMECAST_CLIENT_ID}"',
            'client_id = "${NOT_SET_ANYWHERE}"',
            "sources.url_clicks.client_id: environment variable NOT_SET_ANYWHERE is not set",
        ),
    ],
)
def test_each_problem_names_its_key(example: Path, old: str, new: str, expected: str) -> None:
    found = problems(example, edit(example, old, new))
    assert any(line.startswith(expected) for line in found), found


def test_missing_secret_file(example: Path, tmp_path: Path) -> None:
    (tmp_path / "client_secret").unlink()
    found = problems(example, example.read_text())
    assert found == [
        f"sources.url_clicks.client_secret_file: cannot read secret file "
        f"'{tmp_path / 'client_secret'}': No such file or directory"
    ]


def test_relative_secret_file_is_read_from_credentials_directory(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "client_secret").write_text("from-systemd-credential")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    example.write_text(edit(example, str(tmp_path / "client_secret"), "client_secret"))
    source = load_config(example).sources["url_clicks"]
    assert source.client_secret is not None
    assert source.client_secret.get_secret_value() == "from-systemd-credential"


def test_secret_given_twice(example: Path) -> None:
    text = edit(example, "client_secret_file", 'client_secret = "inline"\nclient_secret_file')
    found = problems(example, text)
    assert found == [
        "sources.url_clicks.client_secret_file: give either client_secret or client_secret_file, not both"
    ]


def test_loopback_http_is_allowed(example: Path) -> None:
    for host in ("127.0.0.1:8080", "localhost", "[::1]:9000", "127.9.9.9"):
        example.write_text(edit(example, "https://api.services.mimecast.com", f"http://{host}"))
        assert load_config(example).sources["url_clicks"].base_url == f"http://{host}"
        example.write_text(edit(example, f"http://{host}", "https://api.services.mimecast.com"))


def test_hmac_requires_all_four_keys(example: Path) -> None:
    text = edit(example, 'auth = "oauth2"', 'auth = "hmac"\napp_id = "a"\napp_key = "k"')
    found = problems(example, text)
    assert found == ['sources.url_clicks.access_key: is required when auth = "hmac"']


def test_sink_inputs_must_name_sources(example: Path) -> None:
    text = edit(example, 'type = "file"', 'type = "file"\ninputs = ["nope"]')
    found = problems(example, text)
    assert "sinks.archive.inputs: unknown source 'nope' (sources: url_clicks)" in found


def test_invalid_toml(example: Path) -> None:
    found = problems(example, "state_dir = \n")
    assert len(found) == 1 and "is not valid TOML" in found[0] and "line 1" in found[0]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("page_size = 500", "page_size = 501"),
        ("https://api.services.mimecast.com", "http://api.example.com"),
        ('type = "file"', 'type = "file"\nbogus = 1'),
    ],
)
def test_cli_exit_code_2_and_one_line_per_problem(example: Path, old: str, new: str) -> None:
    example.write_text(edit(example, old, new))
    for command in (["once"], ["run"], ["check"], ["checkpoint", "show"]):
        done = subprocess.run(
            [sys.executable, "-m", "collector", *command, "-c", str(example)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("config error: "), lines
        assert "Traceback" not in done.stderr


def test_cli_missing_config_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "collector", "once", "-c", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "cannot read config file" in done.stderr and "No such file or directory" in done.stderr


def test_cli_usage_error_is_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "collector", "once"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "-c/--config" in done.stderr


def test_shipped_example_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).parents[2] / "config" / "collector.example.toml"
    secret = tmp_path / "client_secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("MIMECAST_CLIENT_ID", "id")
    for name in ("SPLUNK_HEC_TOKEN", "ES_API_KEY", "WEBHOOK_TOKEN"):
        monkeypatch.setenv(name, "placeholder-secret")
    text = example.read_text().replace(
        "/run/credentials/mimecast-collector.service/client_secret", str(secret)
    )
    path = tmp_path / "example.toml"
    path.write_text(text)
    config = load_config(path)
    assert "url_clicks" in config.sources
    assert config.sinks
