"""deploy/compose: the services, profiles, volumes and secrets the guide promises.

No Docker engine here, so nothing is started. The file is checked twice:
- structurally, with PyYAML, against what docs/guides/docker.md promises;
- by docker-compose itself (Debian's docker-compose 1.29, whose ``config`` command needs no
  engine and validates against the Compose Specification schema it ships), after
  ./init-secrets.sh made the secret files. Two limits of 1.29: its schema predates the
  top-level ``name:`` key, so that one key is removed from the copy it validates; and its
  ``config`` ignores --profile, so profile membership is checked structurally above.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import DEPLOY, REPO, find_tool, run

COMPOSE_DIR = DEPLOY / "compose"
COLLECTORS = ["collector", "collector-simulated"]
PROFILES = {
    "collector": {"tenant"},
    "simulator": {"simulator"},
    "collector-simulated": {"simulator"},
    "certs": {"splunk", "elastic"},
    "splunk": {"splunk"},
    "elasticsearch": {"elastic"},
    "elastic-setup": {"elastic"},
    "kibana": {"elastic"},
}
CONFIG_TARGET = "/etc/mimecast-collector/collector.toml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_services_and_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {name: set(svc.get("profiles", [])) for name, svc in services.items()} == PROFILES


def test_every_published_port_is_on_loopback(compose: dict[str, Any]) -> None:
    published = [port for svc in compose["services"].values() for port in svc.get("ports", [])]
    assert published
    assert all(str(port).startswith("127.0.0.1:") for port in published), published


@pytest.mark.parametrize("name", COLLECTORS)
def test_collector_services_are_locked_down(compose: dict[str, Any], name: str) -> None:
    svc = compose["services"][name]
    assert svc["user"] == "10001:10001"
    assert svc["read_only"] is True
    assert svc["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in svc["security_opt"]
    assert svc["command"] == ["run", "-c", CONFIG_TARGET]
    volumes = svc["volumes"]
    config = [v for v in volumes if f":{CONFIG_TARGET}" in v]
    assert len(config) == 1 and config[0].endswith(":ro"), "config must be mounted read-only"
    assert "collector-state:/var/lib/mimecast-collector" in volumes
    assert "collector-logs:/var/log/mimecast-collector" in volumes
    secrets = {s if isinstance(s, str) else s.get("target", s["source"]) for s in svc["secrets"]}
    assert "mimecast_client_secret" in secrets
    build = svc["build"]
    assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).resolve() == REPO / "Dockerfile"


def test_tenant_collector_reads_the_env_file(compose: dict[str, Any]) -> None:
    svc = compose["services"]["collector"]
    assert svc["env_file"] == ["collector.env"]
    assert "environment" not in svc, "environment: would override collector.env"
    example = (COMPOSE_DIR / "collector.env.example").read_text()
    keys = {
        line.split("=", 1)[0] for line in example.splitlines() if "=" in line and line[0] != "#"
    }
    # Not a secret among them: those are files in ./secrets.
    assert keys == {"MIMECAST_CLIENT_ID", "MIMECAST_BASE_URL"}


def test_simulated_collector_reaches_the_simulator_on_loopback(compose: dict[str, Any]) -> None:
    services = compose["services"]
    svc = services["collector-simulated"]
    assert svc["network_mode"] == "service:simulator"
    assert svc["depends_on"]["simulator"]["condition"] == "service_healthy"
    assert svc["environment"]["MIMECAST_BASE_URL"] == "http://127.0.0.1:8080"
    simulator = services["simulator"]
    assert simulator["command"][0] == "simulate"
    assert "--host=127.0.0.1" in simulator["command"]
    assert "--port=8080" in simulator["command"]
    # The shared namespace's ports are published by the simulator service.
    assert "127.0.0.1:9464:9464" in simulator["ports"]
    assert "ports" not in svc


def test_config_files_for_each_choice(compose: dict[str, Any]) -> None:
    volume = next(
        v for v in compose["x-collector"]["volumes"] if v.endswith(f":{CONFIG_TARGET}:ro")
    )
    assert volume.startswith("./config/${COLLECTOR_CONFIG:-file}.toml")
    for choice in ("file", "splunk", "elastic"):
        assert (COMPOSE_DIR / "config" / f"{choice}.toml").is_file(), choice


def test_splunk_has_hec_with_acknowledgement(compose: dict[str, Any]) -> None:
    splunk = compose["services"]["splunk"]
    assert splunk["environment"]["SPLUNK_START_ARGS"] == "--accept-license"
    assert "SPLUNK_HEC_TOKEN=" in " ".join(splunk["entrypoint"])
    assert {"splunk_password", "splunk_hec_token"} <= set(splunk["secrets"])
    assert "./splunk/default.yml:/tmp/defaults/default.yml:ro" in splunk["volumes"]
    defaults = yaml.safe_load((COMPOSE_DIR / "splunk" / "default.yml").read_text())["splunk"]
    assert defaults["hec"]["ssl"] is True
    confs = {conf["key"]: conf["value"]["content"] for conf in defaults["conf"]}
    token = confs["inputs"]["http://splunk_hec_token"]
    assert token["useACK"] == 1
    assert token["index"] == "mimecast"
    assert "mimecast" in confs["indexes"]


def test_elastic_has_security_on(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["elasticsearch"]["environment"]
    assert env["xpack.security.enabled"] == "true"
    assert env["xpack.security.http.ssl.enabled"] == "true"
    assert env["ELASTIC_PASSWORD_FILE"] == "/run/secrets/elastic_password"
    setup = services["elastic-setup"]
    assert setup["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    script = (COMPOSE_DIR / "elastic" / "setup.sh").read_text()
    assert '"privileges": ["create_doc", "auto_configure"]' in script
    assert "logs-mimecast.ttp_url-*" in script
    kibana = services["kibana"]
    assert kibana["depends_on"]["elastic-setup"]["condition"] == "service_completed_successfully"


def test_secrets_and_volumes_are_declared(compose: dict[str, Any]) -> None:
    used_secrets: set[str] = set()
    used_volumes: set[str] = set()
    for svc in compose["services"].values():
        for secret in svc.get("secrets", []):
            used_secrets.add(secret if isinstance(secret, str) else secret["source"])
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                used_volumes.add(source)
    assert used_secrets == set(compose["secrets"])
    assert used_volumes == set(compose["volumes"])
    assert {"collector-state", "collector-logs"} <= used_volumes
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    # Every bind-mounted file exists in the repository.
    for svc in compose["services"].values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and "$" not in source:
                assert (COMPOSE_DIR / source).exists(), source


def test_init_secrets_is_idempotent(tmp_path: Path) -> None:
    work = tmp_path / "compose"
    shutil.copytree(COMPOSE_DIR, work, ignore=shutil.ignore_patterns("secrets", "collector.env"))
    first = run([str(work / "init-secrets.sh")])
    assert first.returncode == 0, first.stderr
    secrets = work / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    values = {p.name: p.read_text() for p in secrets.iterdir()}
    compose = yaml.safe_load((work / "compose.yaml").read_text())
    assert {Path(s["file"]).name for s in compose["secrets"].values()} == set(values)
    assert values["simulator_client_secret"] == "sim-client-secret"
    assert values["mimecast_client_secret"] == ""
    assert len(values["splunk_password"]) == 32
    assert values["splunk_password"] != values["elastic_password"]
    second = run([str(work / "init-secrets.sh")])
    assert second.returncode == 0, second.stderr
    assert {p.name: p.read_text() for p in secrets.iterdir()} == values
    assert "created" not in second.stdout


@pytest.mark.parametrize("choice", ["file", "splunk", "elastic"])
def test_docker_compose_accepts_the_file(tmp_path: Path, choice: str) -> None:
    """docker-compose resolves the whole file, every profile at once (1.29 ignores
    --profile in ``config``), with COLLECTOR_CONFIG picking the mounted config."""
    tool = find_tool("docker-compose", "Debian package docker-compose")
    work = tmp_path / "deploy" / "compose"
    shutil.copytree(COMPOSE_DIR, work, ignore=shutil.ignore_patterns("secrets", "collector.env"))
    assert run([str(work / "init-secrets.sh")]).returncode == 0
    shutil.copy(work / "collector.env.example", work / "collector.env")
    data = yaml.safe_load((work / "compose.yaml").read_text())
    assert data.pop("name") == "mimecast-collector"
    (work / "compose.yaml").write_text(yaml.safe_dump(data, sort_keys=False))

    env = {"PATH": os.environ.get("PATH", ""), "COLLECTOR_CONFIG": choice}
    result = run([tool, "--file", str(work / "compose.yaml"), "config"], cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == set(PROFILES)
    for name in COLLECTORS:
        mounts = resolved["services"][name]["volumes"]
        assert f"{work}/config/{choice}.toml:{CONFIG_TARGET}:ro" in mounts
    tenant = resolved["services"]["collector"]["environment"]
    assert tenant["MIMECAST_BASE_URL"] == "https://api.services.mimecast.com"


def test_docker_compose_rejects_a_broken_file(tmp_path: Path) -> None:
    """The check can fail: a misspelt service key is refused."""
    tool = find_tool("docker-compose", "Debian package docker-compose")
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  collector:\n    image: x\n    read_onyl: true\n")
    result = run([tool, "--file", str(broken), "config", "--quiet"], cwd=tmp_path)
    assert result.returncode != 0
    assert "read_onyl" in result.stderr
