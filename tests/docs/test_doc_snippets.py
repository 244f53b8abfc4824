"""Every config snippet in the docs is a valid config, so a renamed key fails here.

Checked: every fenced ```toml block of README.md and docs/**/*.md, and
config/collector.example.toml as a whole. Each goes through ``tomllib.loads`` and
:func:`collector.config.parse_config`, the same path as a real config file:

- a block with ``state_dir`` is a complete config and is validated as it is;
- a block of ``[sinks.X]``, ``[sources.X]``, ``[log]`` or ``[metrics]`` tables is a
  fragment: it is validated inside a minimal config (a source for every name its sinks'
  ``inputs`` list, or a stdout sink when it has no sink);
- ``${VAR}`` references get placeholder values, and every secret ``*_file`` key points
  to a temporary file holding a dummy secret (``ca_file``, ``cert_file`` and
  ``key_file`` are not secrets and are not read when a config is loaded);
- a block that is deliberately not a config (a few keys to change, a sketch) carries
  the marker comment ``# doc-snippet: not-a-config`` and is reported as skipped. There
  is no other way to leave a block out.

Commented-out options (``# max_age_secs = 86400``) are documentation too: every
comment line that is a valid TOML key/value must name a key its table accepts.

A failure names the doc, the line, and the collector's own message for the key.
"""

from __future__ import annotations

import re
import tomllib
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from collector.config import LogConfig, parse_config
from collector.errors import ConfigError
from collector.metrics_config import MetricsConfig
from collector.secrets import SecretsModel
from collector.sinks.registry import sink_config_class
from collector.sources.mimecast.config import MimecastSourceConfig

ROOT = Path(__file__).parents[2]
EXAMPLE = Path("config/collector.example.toml")
MARKER = re.compile(r"#\s*doc-snippet:\s*not-a-config\b")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
ENV_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
TOML_ERROR_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
PROBLEM_KEY = re.compile(r"^([\w.\-\[\]]+):")
TABLE_HEADER = re.compile(r"^\s*(?P<comment>#\s*)?\[(?P<table>[A-Za-z0-9_.\-]+)\]\s*(#.*)?$")
COMMENTED_OPTION = re.compile(r"^\s*#\s?(?P<key>[a-z_][a-z0-9_]*)\s*=\s*(?P<value>.+)$")
PLAIN_OPTION = re.compile(r"^\s*(?P<key>[a-z_][a-z0-9_]*)\s*=\s*(?P<value>.+)$")
OPTION = re.compile(r"^\s*(?P<key>[A-Za-z0-9_\-]+)\s*=")

FRAGMENT_TABLES = {"sources", "sinks", "log", "metrics"}
NOT_SECRET_FILES = {"ca_file", "cert_file", "key_file"}
DUMMY_SECRET = "doc-snippet-dummy-secret"
MINIMAL_SOURCE = {
    "type": "mimecast_ttp_url",
    "client_id": "doc-snippet-client-id",
    "client_secret": DUMMY_SECRET,
}


@dataclass(frozen=True)
class Snippet:
    """One TOML text from the docs, and where it starts."""

    path: Path  # relative to the repository
    line: int  # line of the doc holding the snippet's first line
    text: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def skipped(self) -> bool:
        return MARKER.search(self.text) is not None

    def line_of(self, offset: int) -> int:
        """The doc's line number of the snippet's line ``offset`` (1-based)."""
        return self.line + offset - 1


def doc_files() -> list[Path]:
    """README.md and every Markdown file under docs/, relative to the repository."""
    docs = sorted((ROOT / "docs").rglob("*.md"))
    return [Path("README.md"), *(path.relative_to(ROOT) for path in docs)]


def toml_blocks(path: Path) -> Iterator[Snippet]:
    """Every fenced ```toml block of a Markdown file, dedented (list items indent them)."""
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            line = lines[end]
            body.append(line[min(indent, len(line) - len(line.lstrip())) :])
            end += 1
        if opening["info"].strip().lower().split()[:1] == ["toml"]:
            yield Snippet(path, index + 2, "\n".join(body) + "\n")
        index = end + 1


def all_snippets() -> list[Snippet]:
    """Every doc block, then the example config as one snippet."""
    snippets = [block for path in doc_files() for block in toml_blocks(path)]
    example_text = (ROOT / EXAMPLE).read_text(encoding="utf-8")
    return [*snippets, Snippet(EXAMPLE, 1, example_text)]


SNIPPETS = all_snippets()


def placeholder(variable: str) -> str:
    """A value for ``${variable}`` that the key it sits in will accept."""
    if variable.endswith("_URL"):
        return "https://placeholder.example.net"
    return f"placeholder-{variable.lower()}"


def point_secret_files(value: Any, secret_file: Path) -> Any:
    """Replace the path of every secret ``*_file`` key with ``secret_file``."""
    if isinstance(value, dict):
        return {
            key: str(secret_file)
            if key.endswith("_file") and key not in NOT_SECRET_FILES and isinstance(item, str)
            else point_secret_files(item, secret_file)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [point_secret_files(item, secret_file) for item in value]
    return value


def as_config(document: dict[str, Any]) -> dict[str, Any] | None:
    """The snippet as a whole config; None when it is neither a config nor a fragment."""
    if "state_dir" in document:
        return document
    if not document or not set(document) <= FRAGMENT_TABLES:
        return None
    config = {"state_dir": "/var/lib/mimecast-collector", **document}
    sinks = config.get("sinks")
    if "sources" not in config:
        wanted = {
            name
            for sink in (sinks.values() if isinstance(sinks, dict) else [])
            if isinstance(sink, dict) and isinstance(sink.get("inputs"), list)
            for name in sink["inputs"]
            if isinstance(name, str)
        }
        config["sources"] = {name: dict(MINIMAL_SOURCE) for name in sorted(wanted or {"clicks"})}
    config.setdefault("sinks", {"doc_snippet_stdout": {"type": "stdout"}})
    return config


def locate(snippet: Snippet, problem: str) -> str:
    """``path:line: problem``, with the line of the key the problem names when it is found."""
    offset = 1
    named = PROBLEM_KEY.match(problem)
    if named is not None:
        key = re.sub(r"\[\d+\]$", "", named[1]).rsplit(".", 1)[-1]
        for number, line in enumerate(snippet.text.splitlines(), start=1):
            option = OPTION.match(line)
            if option is not None and option["key"] in (key, f"{key}_file"):
                offset = number
                break
    return f"{snippet.path}:{snippet.line_of(offset)}: {problem}"


def validation_problems(snippet: Snippet, secret_file: Path) -> list[str]:
    """Everything wrong with a snippet, one located line each; [] when it is valid."""
    try:
        document = tomllib.loads(snippet.text)
    except tomllib.TOMLDecodeError as exc:
        message, offset = str(exc), 1
        position = TOML_ERROR_LINE.search(message)
        if position is not None:
            offset = int(position[1])
        return [f"{snippet.path}:{snippet.line_of(offset)}: not valid TOML: {message}"]
    config = as_config(document)
    if config is None:
        return [
            f"{snippet.where}: neither a config (no state_dir) nor a fragment of "
            f"{sorted(FRAGMENT_TABLES)} tables; add the marker "
            "'# doc-snippet: not-a-config' if it is not meant to be one"
        ]
    try:
        parse_config(point_secret_files(config, secret_file))
    except ConfigError as exc:
        return [locate(snippet, problem) for problem in exc.problems]
    return []


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "dummy-secret"
    path.write_text(DUMMY_SECRET + "\n", encoding="utf-8")
    return path


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Every ${VAR} of every snippet set to a placeholder; no systemd credentials dir."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    for snippet in SNIPPETS:
        for variable in ENV_REFERENCE.findall(snippet.text):
            monkeypatch.setenv(variable, placeholder(variable))
    return monkeypatch


@pytest.mark.usefixtures("environment")
@pytest.mark.parametrize("snippet", SNIPPETS, ids=[snippet.where for snippet in SNIPPETS])
def test_config_snippet_is_valid(snippet: Snippet, secret_file: Path) -> None:
    if snippet.skipped:
        pytest.skip(f"{snippet.where}: marked '# doc-snippet: not-a-config'")
    problems = validation_problems(snippet, secret_file)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_the_example_config_has_no_marker() -> None:
    # The example is the reference every other doc points to: it is always checked whole.
    assert not SNIPPETS[-1].skipped


def test_snippets_are_found_in_every_doc_that_configures_a_sink() -> None:
    found = {snippet.path for snippet in SNIPPETS}
    for doc in (
        "README.md",
        "docs/http-sinks.md",
        "docs/syslog.md",
        "docs/guides/splunk.md",
        "docs/guides/elastic.md",
        "docs/guides/syslog-siems.md",
    ):
        assert Path(doc) in found, f"{doc}: no ```toml block found"


@pytest.mark.usefixtures("environment")
def test_a_misspelt_key_is_reported_with_its_doc_line(secret_file: Path) -> None:
    text = (
        "[sinks.splunk]\n"
        'type = "splunk_hec"\n'
        'endpoint = "https://splunk.example.net:8088"\n'
        'token_file = "/etc/mimecast-collector/hec_token"\n'
        'sourcetyp = "mimecast:ttp:url"\n'
    )
    problems = validation_problems(Snippet(Path("docs/x.md"), 40, text), secret_file)
    assert problems == ["docs/x.md:44: sinks.splunk.sourcetyp: unknown key"]


def test_a_misspelt_secret_file_key_is_still_reported(secret_file: Path) -> None:
    # Pointing *_file keys at the dummy secret must not hide a misspelt one.
    text = '[sinks.s]\ntype = "splunk_hec"\nendpoint = "https://h:8088"\ntokn_file = "t"\n'
    problems = validation_problems(Snippet(Path("docs/x.md"), 1, text), secret_file)
    assert "docs/x.md:4: sinks.s.tokn_file: unknown key" in problems
    assert any("sinks.s.token: is required" in problem for problem in problems)


# --- commented-out options -------------------------------------------------------------


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def accepted_keys(model: type[BaseModel]) -> set[str]:
    """The keys a table of ``model`` accepts, ``<secret>_file`` variants included."""
    keys = set(model.model_fields)
    if issubclass(model, SecretsModel):
        keys |= {
            f"{name}_file"
            for name, info in model.model_fields.items()
            if _is_secret(info.annotation)
        }
    return keys


@dataclass
class Section:
    """The options of one table, as written (commented or not)."""

    table: str
    header_line: int
    options: list[tuple[int, str, str, bool]] = field(default_factory=list)  # line, key, value, #

    def sink_type(self) -> str | None:
        for _, key, value, _ in self.options:
            if key == "type":
                parsed = tomllib.loads(f"type = {value}")["type"]
                return parsed if isinstance(parsed, str) else None
        return None


def sections(text: str) -> list[Section]:
    """Split a TOML text (with commented-out tables) into its tables' options."""
    found = [Section("", 0)]
    for number, line in enumerate(text.splitlines(), start=1):
        header = TABLE_HEADER.match(line)
        if header is not None:
            found.append(Section(header["table"], number))
            continue
        commented = COMMENTED_OPTION.match(line)
        option = commented or PLAIN_OPTION.match(line)
        if option is None:
            continue
        try:
            # Only a line that is a whole TOML key/value is an option; prose is not.
            tomllib.loads(f"{option['key']} = {option['value']}")
        except tomllib.TOMLDecodeError:
            continue
        found[-1].options.append((number, option["key"], option["value"], commented is not None))
    return found


def model_of(section: Section) -> type[BaseModel] | None:
    parts = section.table.split(".")
    if section.table == "log":
        return LogConfig
    if section.table == "metrics":
        return MetricsConfig
    if len(parts) == 2 and parts[0] == "sources":
        return MimecastSourceConfig
    if len(parts) == 2 and parts[0] == "sinks" and section.sink_type() is not None:
        try:
            return sink_config_class(str(section.sink_type()), key=section.table)
        except ConfigError:
            return None  # an unknown type: the config test reports it
    return None


def commented_option_problems(snippet: Snippet) -> list[str]:
    problems = []
    for section in sections(snippet.text):
        model = model_of(section)
        if section.table and model is None:
            continue
        keys = accepted_keys(model) if model else {"state_dir"}
        for number, key, _, commented in section.options:
            if commented and key not in keys:
                table = section.table or "(top level)"
                problems.append(
                    f"{snippet.path}:{snippet.line_of(number)}: commented-out option {key!r} "
                    f"is not a key of [{table}] (known: {', '.join(sorted(keys))})"
                )
    return problems


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[snippet.where for snippet in SNIPPETS])
def test_commented_out_options_name_real_keys(snippet: Snippet) -> None:
    if snippet.skipped:
        pytest.skip(f"{snippet.where}: marked '# doc-snippet: not-a-config'")
    problems = commented_option_problems(snippet)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_a_misspelt_commented_out_option_is_reported() -> None:
    text = '[sinks.a]\ntype = "file"\npath = "/x"\n# max_age_sec = 86400\n'
    problems = commented_option_problems(Snippet(Path("docs/x.md"), 10, text))
    assert len(problems) == 1
    assert problems[0].startswith("docs/x.md:13: commented-out option 'max_age_sec'")
