"""The ``elasticsearch`` sink: Elasticsearch or OpenSearch ``_bulk``, exactly once per ``_id``.

Every event becomes a ``create`` with ``_id`` = the collector's event id, so a page
sent twice (a lost answer, a retry, a restart) is stored once: the second copy is
answered 409 ``version_conflict_engine_exception``, which means "already stored" and
counts as success. (In data streams ``_id`` is unique per backing index, so a copy
sent again after a rollover is stored twice; see docs/http-sinks.md.)

The body is NDJSON (action line, document line, each ending in ``\\n``, the last one
too), gzipped off loopback, with ``filter_path``: the answer holds only what is read:

- items 2xx and 409: stored (409s are counted in the sink's ``stats.already_stored``);
- items 429 (which also close the sink's gate) and 5xx, and 401/403: retried alone;
- other 4xx items (mapping errors): dead-lettered with the error type and reason;
- a whole request 413: split in two; 429/5xx: retried; 401/403: fails at once.
"""

from __future__ import annotations

import base64
from typing import Any, Literal, Self
from urllib.parse import quote

import orjson
import structlog
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collector.bounds import MAX_BATCH_BYTES, MAX_BATCH_EVENTS
from collector.errors import SinkError, TransientSinkError
from collector.events import Event
from collector.retry import is_retryable_status
from collector.secrets import register_secret
from collector.sinks import SinkContext
from collector.sinks.http.base import HttpSinkBase
from collector.sinks.http.batching import BatchResult, Item
from collector.sinks.http.bulk_items import error_words, is_clean, item_outcome, item_status
from collector.sinks.http.client import refusal_of
from collector.sinks.http.common import HttpSinkBaseConfig, Reply
from collector.sinks.http.dead_letter import Rejection
from collector.sinks.http.ecs import timestamp
from collector.sinks.http.ecs_ttp import ecs_document
from collector.sinks.http.es_targets import IndexName, data_stream_fields, refused, target_of
from collector.sinks.kinds import KINDS, check_kinds

log = structlog.get_logger("collector.sinks.http.elasticsearch")

FILTER_PATH = "errors,items.*.status,items.*.error.type,items.*.error.reason"
_LINE = orjson.OPT_APPEND_NEWLINE


class ElasticsearchSinkConfig(HttpSinkBaseConfig):
    """``[sinks.<name>]`` with ``type = "elasticsearch"`` (Elasticsearch or OpenSearch)."""

    type: Literal["elasticsearch"] = Field(description='Sink type: `"elasticsearch"`.')
    api_key: SecretStr | None = Field(
        default=None,
        description="API key: the `encoded` value Elasticsearch returns, or `id:api_key`. "
        "Or api_key_file.",
    )
    username: str | None = Field(default=None, description="Basic auth user (with password).")
    password: SecretStr | None = Field(
        default=None, description="Basic auth password. Or password_file."
    )
    mode: Literal["data_stream", "index"] = Field(
        default="data_stream",
        description='`"data_stream"`: `index` names a data stream (`require_data_stream`). '
        '`"index"`: a plain index. Both write with `create`.',
    )
    index: IndexName | None = Field(
        default=None,
        description="Target of every kind. Default: each kind its own data stream, "
        "`logs-mimecast.ttp_url-default`, `logs-mimecast.ttp_ap-default`, "
        "`logs-mimecast.ttp_ip-default`.",
    )
    indices: dict[str, IndexName] = Field(
        default_factory=dict,
        description='Target per kind, before `index`: e.g. `{attachment = "logs-mimecast.'
        'ttp_ap_logs-default"}`. Kinds: `url`, `attachment`, `impersonation`.',
    )
    format: Literal["ecs", "raw"] = Field(
        default="ecs",
        description='`"ecs"`: mapped like Elastic\'s mimecast integration. `"raw"`: the '
        "click as Mimecast returned it, plus `@timestamp`.",
    )
    pipeline: str = Field(
        default="",
        description="Ingest pipeline to run (`pipeline=`). Empty: the index's default. "
        '`"_none"` skips a default pipeline.',
    )
    preserve_original_event: bool = Field(
        default=False,
        description="format = ecs: also keep the click as text in `event.original`.",
    )
    max_batch_events: int = Field(
        default=1000, ge=1, le=MAX_BATCH_EVENTS, description="Most documents per request."
    )
    max_batch_bytes: int = Field(
        default=5_000_000,
        ge=1024,
        le=MAX_BATCH_BYTES,
        description="Most bytes per bulk body before compression.",
    )

    @field_validator("indices")
    @classmethod
    def _check_indices(cls, value: dict[str, str]) -> dict[str, str]:
        return dict(check_kinds(value, "indices"))

    @model_validator(mode="after")
    def _check_auth(self) -> Self:
        basic = self.username is not None or self.password is not None
        if self.api_key is not None and basic:
            raise PydanticCustomError(
                "config_key", "api_key: give either api_key or username + password", {}
            )
        if basic and (self.username is None or self.password is None):
            missing = "password" if self.password is None else "username"
            raise PydanticCustomError(
                "config_key", "{key}: is required with basic auth", {"key": missing}
            )
        return self

    def build(self, name: str, context: SinkContext) -> ElasticsearchSink:
        """Return the sink this config describes, not started yet."""
        return ElasticsearchSink(name, self, context)


class ElasticsearchSink(HttpSinkBase):
    """Sends pages with ``_bulk``; see the module docstring."""

    def __init__(
        self, name: str, config: ElasticsearchSinkConfig, context: SinkContext, **kw: Any
    ) -> None:
        super().__init__(name, config, context, **kw)
        self.config = config
        # The URL names the clicks' target; another kind's documents name theirs.
        self._default_target = target_of(config.indices, config.index, "url")
        self._url = f"{config.endpoint}/{quote(self._default_target, safe='')}/_bulk"
        self._params = {"filter_path": FILTER_PATH}
        if config.mode == "data_stream":
            self._params["require_data_stream"] = "true"
        if config.pipeline:
            self._params["pipeline"] = config.pipeline
        self._targets: dict[str, tuple[str, dict[str, str] | None]] = {}

    def headers(self) -> dict[str, str]:
        """Credentials and the NDJSON content type."""
        headers = {"Content-Type": "application/x-ndjson"}
        config = self.config
        if config.api_key is not None:
            key = config.api_key.get_secret_value()
            if ":" in key:  # id:api_key, not yet encoded
                key = base64.b64encode(key.encode()).decode()
                register_secret(key)
            headers["Authorization"] = f"ApiKey {key}"
        elif config.username is not None and config.password is not None:
            pair = f"{config.username}:{config.password.get_secret_value()}".encode()
            encoded = base64.b64encode(pair).decode()
            register_secret(encoded)
            headers["Authorization"] = f"Basic {encoded}"
        return headers

    def encode(self, event: Event) -> bytes:
        """The ``create`` action line and the document line."""
        target, data_stream = self._target(event.kind)
        if self.config.format == "ecs":
            original = self.config.preserve_original_event
            doc = ecs_document(event, preserve_original=original, data_stream=data_stream)
        else:
            doc = {"@timestamp": timestamp(event.time), **event.data}
        meta = {"_id": event.event_id}
        if target != self._default_target:
            meta["_index"] = target
        action = orjson.dumps({"create": meta}, option=_LINE)
        return action + orjson.dumps(doc, option=_LINE)

    def _target(self, kind: str) -> tuple[str, dict[str, str] | None]:
        known = self._targets.get(kind)
        if known is None:
            target = target_of(self.config.indices, self.config.index, kind)
            known = self._targets[kind] = (target, data_stream_fields(self.config.mode, target))
        return known

    async def healthcheck(self) -> None:
        """``GET /``, cluster health, and whether the credentials may write to each target.

        Leans towards passing: a check the credentials may not run (403) or the
        server does not know (OpenSearch has no ``_has_privileges``) is skipped.

        Raises:
            SinkError: unreachable, credentials rejected, cluster red, or no right to write.
        """
        endpoint = self.config.endpoint
        root = await self.http.request("GET", endpoint + "/")
        if root.status not in (200, 403):
            raise self._error(root, "GET /", retry=False)
        health = await self.http.request("GET", endpoint + "/_cluster/health")
        status = (health.json() or {}).get("status") if health.status == 200 else None
        if status == "red":
            raise SinkError(self.name, "cluster health is red: some primary shards are missing")
        config = self.config
        targets = sorted({target_of(config.indices, config.index, kind) for kind in KINDS})
        body = {"index": [{"names": targets, "privileges": ["create_doc"]}]}
        privileges = await self.http.request(
            "POST",
            endpoint + "/_security/user/_has_privileges",
            body=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
            compress=False,
        )
        if privileges.status in (401, 403):
            raise self._error(privileges, "privileges check", retry=False)
        answer = privileges.json() if privileges.status == 200 else None
        if isinstance(answer, dict) and answer.get("has_all_requested") is False:
            names = refused(answer, targets)
            if self._default_target in names:
                why = f"the credentials may not write to {self._default_target!r} (create_doc)"
                raise SinkError(self.name, why)
            # Whether a source of another kind feeds this sink is not known here.
            log.warning("elasticsearch_may_not_write", sink=self.name, targets=names)

    def refusal_of(self, reply: Reply) -> str | None:
        """429 and 503, and a 200 bulk answer with any item 429.

        An item 429 is a full write queue: the cluster sheds load for every client, so
        the whole sink backs off (the gate closes), as for a request 429.
        """
        if reply.status != 200 or b"429" not in reply.body or is_clean(reply.body):
            return refusal_of(reply)  # the cheap tests first: most answers hold no 429
        answer = reply.json()
        items = answer.get("items") if isinstance(answer, dict) else None
        full = isinstance(items, list) and any(item_status(entry) == 429 for entry in items)
        return "bulk items answered 429" if full else None

    async def _post(self, batch: list[Item], body: bytes) -> BatchResult:
        reply = await self.http.request("POST", self._url, body=body, params=self._params)
        if reply.status == 200:
            return self._items(batch, reply)
        if reply.status == 413:
            return BatchResult(too_large=True)
        raise self._error(reply, "bulk request")

    def _items(self, batch: list[Item], reply: Reply) -> BatchResult:
        if is_clean(reply.body):  # ``{"errors":false,...``: known without parsing the items
            return BatchResult()
        answer = reply.json()
        if not isinstance(answer, dict):
            raise TransientSinkError(self.name, f"bulk answer is not JSON: {reply.quote()}")
        if answer.get("errors") is False:
            return BatchResult()
        items = answer.get("items")
        if not isinstance(items, list) or len(items) != len(batch):
            count = len(items) if isinstance(items, list) else "no"
            raise TransientSinkError(
                self.name, f"bulk answer has {count} items for {len(batch)} documents"
            )
        result = BatchResult()
        stored_before = 0
        retry_error: tuple[int, str, str] | None = None
        for item, entry in zip(batch, items, strict=True):
            status = item_status(entry)
            if 200 <= status < 300 or status == 409:
                stored_before += status == 409
                continue
            error_type, reason = error_words(item_outcome(entry).get("error"))
            if status in (401, 403) or is_retryable_status(status) or not status:
                result.retry.append(item)
                retry_error = retry_error or (status, error_type, reason)
            else:
                result.rejected.append((item, Rejection(status, error_type, reason)))
        if stored_before:
            self.stats.already_stored += stored_before
            log.info("bulk_already_stored", sink=self.name, count=stored_before)
        if retry_error is not None:
            status, error_type, reason = retry_error
            result.error = TransientSinkError(
                self.name,
                f"{len(result.retry)} of {len(batch)} bulk items answered {status} "
                f"{error_type}: {reason}; retrying those alone",
                retry_after_secs=reply.refused_for,  # an item 429 closed the gate: wait for it
            )
        return result

    def _error(self, reply: Reply, what: str, *, retry: bool = True) -> SinkError:
        answer = reply.json()
        error = answer.get("error") if isinstance(answer, dict) else None
        if error is not None:
            error_type, reason = error_words(error)
            words = f"HTTP {reply.status} {error_type}: {reason}"
        else:
            words = f"HTTP {reply.status}: {reply.quote()}"
        message = f"{what}: Elasticsearch answered {words}"
        if retry and is_retryable_status(reply.status):
            return TransientSinkError(self.name, message, retry_after_secs=reply.retry_after_secs)
        if reply.status in (401, 403):
            message += "; check api_key (or username/password) and its privileges"
        return SinkError(self.name, message)
