"""Every config file that deploy/ and the Dockerfile ship is accepted by the collector.

Each is loaded with the collector's own loader (``collector.config.load_config``, the code
behind ``run -c``): every key, type and sink option is checked. The secrets they name
(``*_file``) point to paths that exist only inside a container or a systemd unit, so the
test redirects each to a file of its own; relative ones are read from
``$CREDENTIALS_DIRECTORY``, as under systemd's LoadCredential=.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from collector.config import CollectorConfig, load_config
from tests.deploy.support import DEPLOY

_SECRET_FILE = re.compile(r'^(\s*\w+_file\s*=\s*)"([^"]+)"', re.MULTILINE)
ENV = {
    "MIMECAST_BASE_URL": "https://api.services.mimecast.com",
    "MIMECAST_CLIENT_ID": "client-id-from-env",
}


def configmap_toml() -> str:
    doc = yaml.safe_load((DEPLOY / "kubernetes" / "tenant" / "configmap.yaml").read_text())
    return str(doc["data"]["collector.toml"])


CONFIGS = {
    "systemd": lambda: (DEPLOY / "systemd" / "collector.toml").read_text(),
    "docker-image": lambda: (DEPLOY / "docker" / "collector.toml").read_text(),
    "compose-file": lambda: (DEPLOY / "compose" / "config" / "file.toml").read_text(),
    "compose-splunk": lambda: (DEPLOY / "compose" / "config" / "splunk.toml").read_text(),
    "compose-elastic": lambda: (DEPLOY / "compose" / "config" / "elastic.toml").read_text(),
    "kubernetes": configmap_toml,
}


def load(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CollectorConfig:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    secrets = tmp_path / "secrets"
    secrets.mkdir()

    def redirect(match: re.Match[str]) -> str:
        original = match.group(2)
        if original.startswith("/"):
            target = secrets / original.strip("/").replace("/", "_")
        else:
            target = credentials / original
        target.write_text(f"secret-for-{Path(original).name}\n")
        return f'{match.group(1)}"{target if original.startswith("/") else original}"'

    path = tmp_path / "collector.toml"
    path.write_text(_SECRET_FILE.sub(redirect, text))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return load_config(path)


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_config_loads(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(CONFIGS[name](), tmp_path, monkeypatch)
    assert str(config.state_dir) == "/var/lib/mimecast-collector"
    source = config.sources["url_clicks"]
    if name != "systemd":
        assert source.client_id == ENV["MIMECAST_CLIENT_ID"]
        assert source.base_url == ENV["MIMECAST_BASE_URL"]
    assert source.client_secret is not None
    assert source.client_secret.get_secret_value().startswith("secret-for-")
    assert config.metrics is not None, "health checks and probes need [metrics]"
    host = config.metrics.address.rpartition(":")[0]
    # Containers publish the port; systemd keeps it on loopback.
    assert host == ("127.0.0.1" if name == "systemd" else "0.0.0.0")


def test_systemd_secret_comes_from_the_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """client_secret_file = "client_secret" + LoadCredential=client_secret:... agree."""
    text = (DEPLOY / "systemd" / "collector.toml").read_text()
    assert 'client_secret_file = "client_secret"' in text
    unit = (DEPLOY / "systemd" / "mimecast-collector.service").read_text()
    assert "\nLoadCredential=client_secret:/etc/mimecast-collector/client_secret\n" in unit
    config = load(text, tmp_path, monkeypatch)
    secret = config.sources["url_clicks"].client_secret
    assert secret is not None
    assert secret.get_secret_value() == "secret-for-client_secret"


@pytest.mark.parametrize("name", CONFIGS)
def test_file_sinks_write_where_the_deployment_allows(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ProtectSystem=strict / read-only root filesystems: only the logs directory."""
    config = load(CONFIGS[name](), tmp_path, monkeypatch)
    for sink in config.sinks.values():
        path = getattr(sink, "path", None)
        if path is not None:
            assert str(path).startswith("/var/log/mimecast-collector/"), path


def test_a_broken_config_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: a misspelt key in a shipped file is a config error."""
    from collector.errors import ConfigError

    text = CONFIGS["compose-splunk"]().replace("acknowledgements = true", "acknowledgments = true")
    with pytest.raises(ConfigError, match="acknowledgments"):
        load(text, tmp_path, monkeypatch)
