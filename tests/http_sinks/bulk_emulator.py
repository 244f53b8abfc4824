"""A protocol-faithful Elasticsearch ``_bulk`` emulator (sink-protocols.md section 3).

What it does the way Elasticsearch 8 does:

- Auth: ``ApiKey <encoded>`` or ``Basic``; otherwise 401 ``security_exception``.
- ``POST /_bulk`` and ``POST /<index>/_bulk``: ``Content-Type`` must be
  ``application/x-ndjson`` or ``application/json`` (else 406); gzip bodies; a body over
  ``max_content_length`` is 413; **a body not ending in ``\\n`` is 400
  ``illegal_argument_exception``**; a malformed action line is 400.
- Per item, in request order: ``create`` of an existing ``_id`` is 409
  ``version_conflict_engine_exception``; data streams (``logs-*-*``) take only
  ``create`` and need ``@timestamp``; ``require_data_stream=true`` refuses plain
  indices; dynamic mapping: a field first seen as an object/number/string refuses a
  conflicting value later (400 ``document_parsing_exception``).
- The answer is ``{"took","errors","items":[{op:{_index,_id,status,result|error}}]}``,
  reduced by ``filter_path`` (``*`` wildcards, arrays traversed).
- ``GET /``, ``GET /_cluster/health``, ``POST /_security/user/_has_privileges``.

Faults: whole requests (:meth:`BulkEmulator.fail_next`) and single items by ``_id``
(:meth:`BulkEmulator.fail_item`).
"""

from __future__ import annotations

import base64
import fnmatch
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from collector.simulator.envelope import json_response
from collector.simulator.httpserver import Request, Response

from .local_server import LocalServer, dropped, status_of

_MISSING = object()


@dataclass(slots=True)
class Logged:
    """One bulk request: its query, documents and per-item statuses (None: dropped)."""

    path: str
    query: dict[str, str]
    status: int | None
    ids: list[str]
    item_statuses: list[int]
    size: int
    headers: dict[str, str]
    body: bytes


def es_error(status: int, kind: str, reason: str) -> dict[str, Any]:
    """An Elasticsearch error body."""
    cause = {"type": kind, "reason": reason}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


class BulkEmulator:
    """An Elasticsearch node on 127.0.0.1. ``indices[name][_id]`` is what is stored."""

    def __init__(
        self,
        *,
        api_key: str = "ZW11bGF0b3I6c2VjcmV0LWtleS12YWx1ZQ==",
        basic: tuple[str, str] | None = None,
        max_content_length: int = 100 * 1024 * 1024,
        may_write: bool = True,
        cluster_status: str = "green",
        answer_form: str = "filtered",
    ) -> None:
        self.api_key = api_key
        self.basic = basic
        self.max_content_length = max_content_length
        self.may_write = may_write
        self.read_only: set[str] = set()
        """Indices the credentials may not write to, even when ``may_write``."""
        self.cluster_status = cluster_status
        self.answer_form = answer_form
        """How bulk answers are written: ``filtered`` (``filter_path`` honoured, compact, as
        Elasticsearch does), ``whole`` (``filter_path`` ignored, as by a proxy that drops
        the query: ``took`` comes first) or ``pretty`` (filtered, indented, as with
        ``?pretty``)."""
        self.indices: dict[str, dict[str, Any]] = {}
        self.mappings: dict[str, dict[str, str]] = {}
        self.log: list[Logged] = []
        self.faults: deque[Response | None] = deque()
        self.item_faults: dict[str, deque[tuple[int, str, str]]] = {}
        self.drop_after_store = 0
        """Requests still to be processed in full and then left unanswered."""
        self.mappings_checked = True
        """Dynamic-mapping conflicts are checked (off for benchmarks: it is slow here)."""
        self.server = LocalServer(self._route)

    @property
    def url(self) -> str:
        """Base URL for the sink's ``endpoint``."""
        return self.server.url

    def fail_next(self, response: Response | None, count: int = 1) -> None:
        """Answer the next ``count`` bulk requests with ``response`` (:func:`dropped`: none).

        None answers as usual: a gap in a schedule of faults.
        """
        self.faults.extend([response] * count)

    def fail_item(self, doc_id: str, status: int, kind: str, reason: str, count: int = 1) -> None:
        """Answer the next ``count`` attempts to store ``doc_id`` with this item error."""
        self.item_faults.setdefault(doc_id, deque()).extend([(status, kind, reason)] * count)

    def stored(self, index: str) -> dict[str, Any]:
        """``_id`` -> document of ``index``."""
        return self.indices.get(index, {})

    def attempts(self, doc_id: str) -> int:
        """How many bulk requests carried ``doc_id``."""
        return sum(entry.ids.count(doc_id) for entry in self.log)

    async def __aenter__(self) -> BulkEmulator:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    async def _route(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if request.method == "GET" and request.path == "/":
            info = {"name": "emu", "cluster_name": "emulator", "version": {"number": "8.15.0"}}
            return json_response(200, {**info, "tagline": "You Know, for Search"})
        if request.method == "GET" and request.path == "/_cluster/health":
            return json_response(200, {"cluster_name": "emulator", "status": self.cluster_status})
        if request.path == "/_security/user/_has_privileges":
            return self._privileges(request)
        if request.method == "POST" and request.path.endswith("/_bulk"):
            return self._bulk(request)
        return json_response(404, es_error(404, "resource_not_found_exception", request.path))

    def _privileges(self, request: Request) -> Response:
        # Elasticsearch answers per index and privilege, and whether all were granted.
        asked = orjson.loads(request.decoded_body())["index"][0]["names"]
        granted = {name: self.may_write and name not in self.read_only for name in asked}
        answer = {name: {"create_doc": ok} for name, ok in granted.items()}
        return json_response(
            200, {"username": "emu", "has_all_requested": all(granted.values()), "index": answer}
        )

    def _authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("authorization")
        if header is None:
            reason = f"missing authentication credentials for REST request [{request.path}]"
            return json_response(401, es_error(401, "security_exception", reason))
        scheme, _, value = header.partition(" ")
        valid = scheme == "ApiKey" and value == self.api_key
        if self.basic is not None and scheme == "Basic":
            valid = value == base64.b64encode(":".join(self.basic).encode()).decode()
        if not valid:
            reason = "unable to authenticate with provided credentials and anonymous access is not allowed"
            return json_response(401, es_error(401, "security_exception", reason))
        return None

    def _bulk(self, request: Request) -> Response:
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind not in ("application/x-ndjson", "application/json"):
            reason = f"Content-Type header [{kind}] is not supported"
            return json_response(406, {"error": reason, "status": 406})
        body = request.decoded_body()
        if len(body) > self.max_content_length:
            return self._log(request, Response(413, b"", "text/plain"), [], [], len(body))
        fault = self.faults.popleft() if self.faults else None
        if fault is not None:
            return self._log(request, fault, [], [], len(body))
        if body and not body.endswith(b"\n"):
            reason = "The bulk request must be terminated by a newline [\\n]"
            error = es_error(400, "illegal_argument_exception", reason)
            return self._log(request, json_response(400, error), [], [], len(body))
        default_index = request.path[: -len("/_bulk")].strip("/") or None
        try:
            operations = _operations(body.split(b"\n")[:-1], default_index)
        except ValueError as exc:
            error = es_error(400, "illegal_argument_exception", str(exc))
            return self._log(request, json_response(400, error), [], [], len(body))
        require_stream = request.query.get("require_data_stream") == "true"
        items = [
            self._store(op, index, doc_id, source, require_stream)
            for op, index, doc_id, source in operations
        ]
        statuses = [next(iter(item.values()))["status"] for item in items]
        answer = {"took": 1, "errors": any(s >= 300 for s in statuses), "items": items}
        if self.answer_form != "whole":
            answer = filter_path(answer, request.query.get("filter_path"))
        ids = [doc_id for _, _, doc_id, _ in operations]
        indent = orjson.OPT_INDENT_2 if self.answer_form == "pretty" else 0
        response = Response(200, orjson.dumps(answer, option=indent))
        if self.drop_after_store:
            self.drop_after_store -= 1
            response = dropped()
        return self._log(request, response, ids, statuses, len(body))

    def _store(
        self, op: str, index: str, doc_id: str, source: Any, require_stream: bool
    ) -> dict[str, Any]:
        head = {"_index": index, "_id": doc_id}
        scheduled = self.item_faults.get(doc_id)
        if scheduled:
            status, kind, reason = scheduled.popleft()
            return {op: {**head, "status": status, "error": {"type": kind, "reason": reason}}}
        problem = self._problem(op, index, doc_id, source, require_stream)
        if problem is not None:
            status, kind, reason = problem
            return {op: {**head, "status": status, "error": {"type": kind, "reason": reason}}}
        self.indices.setdefault(index, {})[doc_id] = source
        return {op: {**head, "_version": 1, "result": "created", "status": 201}}

    def _problem(
        self, op: str, index: str, doc_id: str, source: Any, require_stream: bool
    ) -> tuple[int, str, str] | None:
        stream = is_data_stream(index)
        if require_stream and not stream:
            reason = f"no such index [{index}] and [require_data_stream] request flag is [true] and [{index}] is not a data stream"
            return 404, "index_not_found_exception", reason
        if stream and op != "create":
            reason = "only write ops with an op_type of create are allowed in data streams"
            return 400, "illegal_argument_exception", reason
        if stream and "@timestamp" not in source:
            return (
                400,
                "document_parsing_exception",
                "data stream timestamp field [@timestamp] is missing",
            )
        if op == "create" and doc_id in self.indices.get(index, {}):
            reason = f"[{doc_id}]: version conflict, document already exists (current version [1])"
            return 409, "version_conflict_engine_exception", reason
        return self._map(index, doc_id, source) if self.mappings_checked else None

    def _map(self, index: str, doc_id: str, source: Any) -> tuple[int, str, str] | None:
        mapping = self.mappings.setdefault(index, {})
        found: dict[str, str] = {}
        for path, kind, value in _leaves(source, ""):
            known = mapping.get(path) or found.get(path)
            if known is None:
                found[path] = kind
            elif known != kind and not _coerces(known, kind, value):
                if known == "object" or kind == "object":
                    reason = f"object mapping for [{path}] tried to parse field [{path}] as object, but found a concrete value"
                else:
                    reason = (
                        f"[1:1] failed to parse field [{path}] of type [{known}] in document with "
                        f"id '{doc_id}'. Preview of field's value: '{value}'"
                    )
                return 400, "document_parsing_exception", reason
        mapping.update(found)
        return None

    def _log(
        self, request: Request, response: Response, ids: list[str], statuses: list[int], size: int
    ) -> Response:
        status = status_of(response)
        body = request.decoded_body()
        entry = Logged(
            request.path,
            request.query,
            status,
            ids,
            statuses,
            size,
            request.headers,
            body,
        )
        self.log.append(entry)
        return response


def is_data_stream(index: str) -> bool:
    """Names matching the built-in ``logs-*-*`` (and metrics/traces) templates."""
    parts = index.split("-", 2)
    return len(parts) == 3 and parts[0] in ("logs", "metrics", "traces") and all(parts)


def _operations(lines: list[bytes], default_index: str | None) -> list[tuple[str, str, str, Any]]:
    operations = []
    position = 0
    while position < len(lines):
        try:
            action = orjson.loads(lines[position])
        except orjson.JSONDecodeError:
            raise ValueError(
                f"Malformed action/metadata line [{position + 1}], expected START_OBJECT"
            ) from None
        if not isinstance(action, dict) or len(action) != 1:
            raise ValueError(
                f"Malformed action/metadata line [{position + 1}], expected a simple value for field"
            )
        op, meta = next(iter(action.items()))
        if op not in ("create", "index", "update", "delete"):
            raise ValueError(
                f"Action/metadata line [{position + 1}] contains an unknown parameter [{op}]"
            )
        index = meta.get("_index", default_index)
        doc_id = meta.get("_id") or f"auto-{position}"
        source = None
        if op != "delete":
            position += 1
            if position >= len(lines):
                raise ValueError("The bulk request must be terminated by a newline [\\n]")
            source = orjson.loads(lines[position])
        operations.append((op, index, doc_id, source))
        position += 1
    return operations


def _coerces(known: str, kind: str, value: Any) -> bool:
    # keyword takes numbers; long takes numeric strings (ES coerces both ways).
    if known == "keyword" and kind in ("long", "boolean"):
        return True
    return known == "long" and kind == "keyword" and str(value).lstrip("-").isdigit()


def _leaves(value: Any, prefix: str) -> list[tuple[str, str, Any]]:
    if isinstance(value, dict):
        out: list[tuple[str, str, Any]] = [(prefix, "object", None)] if prefix else []
        for key, inner in value.items():
            out.extend(_leaves(inner, f"{prefix}.{key}" if prefix else key))
        return out
    if isinstance(value, list):
        return [leaf for inner in value for leaf in _leaves(inner, prefix)]
    if isinstance(value, bool):
        return [(prefix, "boolean", value)]
    if isinstance(value, int | float):
        return [(prefix, "long", value)]
    if value is None:
        return []
    return [(prefix, "keyword", value)]


def filter_path(answer: Any, spec: str | None) -> Any:
    """Keep only the paths of ``spec`` (``a.*.b,c``), traversing arrays, as ES does."""
    if not spec:
        return answer
    patterns = [pattern.split(".") for pattern in spec.split(",") if pattern]
    kept = _filter(answer, patterns)
    return {} if kept is _MISSING else kept


def _filter(value: Any, patterns: list[list[str]]) -> Any:
    if any(not pattern for pattern in patterns):
        return value
    if isinstance(value, list):
        kept = [k for k in (_filter(v, patterns) for v in value) if k is not _MISSING]
        return kept if kept else _MISSING
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            deeper = [p[1:] for p in patterns if fnmatch.fnmatchcase(key, p[0])]
            if deeper:
                kept = _filter(inner, deeper)
                if kept is not _MISSING:
                    out[key] = kept
        return out if out else _MISSING
    return _MISSING
