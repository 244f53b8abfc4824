"""Where the ``elasticsearch`` sink writes each kind of record, and what it tells the stream.

Each kind has a target of its own (``indices``), else the sink's one ``index``, else the
kind's default data stream (:mod:`collector.sinks.kinds`): clicks, attachment and
impersonation logs keep apart by default, as Elastic's integration keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator

from collector.sinks.kinds import names_of

_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def target_of(indices: Mapping[str, str], index: str | None, kind: str) -> str:
    """Where documents of ``kind`` go: ``indices``, else ``index``, else the kind's stream."""
    return indices.get(kind) or index or names_of(kind).data_stream


def checked_index(value: str) -> str:
    """Return ``value`` if Elasticsearch accepts it as an index or data stream name."""
    if not _INDEX_NAME.match(value) or value in (".", ".."):
        raise ValueError(
            f"{value!r} is not a valid index or data stream name (lowercase letters, "
            "digits, '.', '_', '-'; not starting with '_', '-' or '.')"
        )
    return value


IndexName = Annotated[str, AfterValidator(checked_index)]
"""A config value naming an index or a data stream."""


def refused(answer: dict[str, Any], targets: list[str]) -> list[str]:
    """The targets a ``_has_privileges`` answer refuses; all of them when it cannot be read."""
    per_index = answer.get("index")
    if not isinstance(per_index, dict):
        return targets
    named = [
        name
        for name in targets
        if isinstance(per_index.get(name), dict) and per_index[name].get("create_doc") is False
    ]
    return named or targets


def data_stream_fields(mode: str, target: str) -> dict[str, str] | None:
    """``data_stream.{type,dataset,namespace}`` of documents written to ``target``, a data
    stream named ``type-dataset-namespace``; None outside a data stream or for another shape."""
    # data_stream.* are constant_keyword fields in Elastic's templates: a document
    # whose values disagree with the stream's name is refused, so derive them from it.
    if mode != "data_stream":
        return None
    parts = target.split("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return {"type": parts[0], "dataset": parts[1], "namespace": parts[2]}
