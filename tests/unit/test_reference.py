"""docs/configuration.md must be what the config models generate."""

from __future__ import annotations

from pathlib import Path

from collector.reference import render

REFERENCE = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_configuration_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text() == render(), (
        "docs/configuration.md is stale: run `python -m collector.reference > docs/configuration.md`"
    )


def test_reference_documents_every_source_key() -> None:
    text = render()
    for key in ("client_secret", "overlap_secs", "lag_secs", "page_size", "ca_file", "proxy"):
        assert f"| `{key}` |" in text
    assert "int, >= 1, <= 500" in text
