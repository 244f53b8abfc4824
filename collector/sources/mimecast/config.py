"""Config model of the Mimecast sources: one TTP log endpoint of one tenant.

``mimecast_ttp_url`` (URL Protection clicks), ``mimecast_ttp_attachment`` (Attachment
Protection) and ``mimecast_ttp_impersonation`` (Impersonation Protection) share every
key but their filters; :mod:`collector.sources.mimecast.endpoints` describes each.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collector.bounds import MAX_DURATION_SECS, MAX_LOOKBACK_SECS
from collector.net import ProxyUrl, check_endpoint_url
from collector.secrets import SecretsModel
from collector.sources.mimecast.endpoints import ENDPOINTS, RETENTION_SECS, Endpoint

__all__ = ["CREDENTIAL_KEYS", "RETENTION_SECS", "MimecastSourceConfig"]

SourceType = Literal["mimecast_ttp_url", "mimecast_ttp_attachment", "mimecast_ttp_impersonation"]

CREDENTIAL_KEYS = (
    "auth",
    "base_url",
    "client_id",
    "client_secret",
    "app_id",
    "app_key",
    "access_key",
    "secret_key",
)
"""What ``credentials = "<source>"`` takes from the other source (and their ``*_file``)."""

# Filters that only some endpoints take: key -> the source types that accept it.
_FILTER_TYPES = {
    "route": ("mimecast_ttp_url", "mimecast_ttp_attachment"),
    "scan_result": ("mimecast_ttp_url",),
    "result": ("mimecast_ttp_attachment",),
    "tagged_malicious": ("mimecast_ttp_impersonation",),
}


class MimecastSourceConfig(SecretsModel):
    """``[sources.<name>]`` with a ``type`` of ``mimecast_ttp_url``, ``mimecast_ttp_attachment``
    or ``mimecast_ttp_impersonation``."""

    type: SourceType = Field(
        description='Source type: "mimecast_ttp_url" (URL Protection clicks, '
        'POST /api/ttp/url/get-logs), "mimecast_ttp_attachment" (Attachment Protection, '
        '/api/ttp/attachment/get-logs) or "mimecast_ttp_impersonation" (Impersonation '
        "Protection, /api/ttp/impersonation/get-logs)."
    )
    credentials: str | None = Field(
        default=None,
        description="Name of another source whose API credentials (auth, base_url and the "
        "keys) this one uses. Sources on one credential share one quota pacer and one 429 "
        "gate, whether the credential is referenced or written twice.",
    )
    base_url: str = Field(
        default="https://api.services.mimecast.com",
        description=(
            "Mimecast API base URL. API 2.0: https://api.services.mimecast.com (global), "
            "https://uk-api.services.mimecast.com or https://us-api.services.mimecast.com. "
            "API 1.0: your regional host, e.g. https://eu-api.mimecast.com. Must be https; "
            "plain http is accepted only for loopback hosts (the simulator)."
        ),
    )
    auth: Literal["oauth2", "hmac"] = Field(
        default="oauth2",
        description='"oauth2" (API 2.0 client credentials) or "hmac" (legacy API 1.0 keys).',
    )
    client_id: str | None = Field(default=None, description="API 2.0 client id (auth = oauth2).")
    client_secret: SecretStr | None = Field(
        default=None, description="API 2.0 client secret (auth = oauth2). Or client_secret_file."
    )
    app_id: str | None = Field(default=None, description="API 1.0 application id (auth = hmac).")
    app_key: SecretStr | None = Field(
        default=None, description="API 1.0 application key (auth = hmac). Or app_key_file."
    )
    access_key: SecretStr | None = Field(
        default=None, description="API 1.0 access key (auth = hmac). Or access_key_file."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="API 1.0 secret key, base64 as Mimecast gives it (auth = hmac). "
        "Or secret_key_file.",
    )
    interval_secs: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DURATION_SECS,
        description="Seconds between cycles in `run`. Unset (the default): chosen from the "
        "quota, so that polls finding nothing new spend at most live_quota_share of it "
        "(one poll every 7.2 s with a 10000/hour quota and one source on the credential). "
        "Set, it wins; a value below what the budget allows draws a warning.",
    )
    initial_lookback_secs: int = Field(
        default=86400,
        ge=0,
        le=MAX_LOOKBACK_SECS,
        description="On the very first cycle, how far back to start. Clamped to Mimecast's "
        "30-day retention.",
    )
    page_size: int = Field(default=500, ge=1, le=500, description="Click logs per request.")
    route: Literal["all", "inbound", "outbound", "internal"] = Field(
        default="all", description="Mimecast `route` filter (URL clicks and attachment logs)."
    )
    scan_result: Literal["all", "clean", "malicious"] = Field(
        default="all", description="Mimecast `scanResult` filter (URL clicks only)."
    )
    result: Literal["all", "safe", "malicious", "timeout", "error", "unsafe"] = Field(
        default="all", description="Mimecast `result` filter (attachment logs only)."
    )
    tagged_malicious: bool | None = Field(
        default=None,
        description="Mimecast `taggedMalicious` filter (impersonation logs only): true for "
        "messages tagged malicious, false for the others; unset: no filter.",
    )
    lag_secs: int = Field(
        default=5,
        ge=0,
        le=MAX_DURATION_SECS,
        description="Each window ends this many seconds before now, so Mimecast has time "
        "to publish a second's clicks before it is read. Clicks published later are "
        "caught by poll_overlap_secs and the late sweep.",
    )
    poll_overlap_secs: int = Field(
        default=30,
        ge=0,
        le=MAX_DURATION_SECS,
        description="Every poll re-reads this many seconds before its start (at most "
        "overlap_secs), so a click published up to lag_secs + poll_overlap_secs after its "
        "date is caught by the next poll.",
    )
    overlap_secs: int = Field(
        default=900,
        ge=0,
        le=MAX_DURATION_SECS,
        description="The late-click horizon: every late_sweep_secs a poll re-reads this many "
        "seconds before the end of the previous sweep, so a click published up to "
        "overlap_secs after its date is caught. Clicks already delivered are recognised by "
        "content hash and not sent again.",
    )
    late_sweep_secs: int = Field(
        default=300,
        ge=0,
        le=MAX_DURATION_SECS,
        description="How often a poll re-reads the whole overlap_secs (the late sweep); "
        "0 = every poll does.",
    )
    live_quota_share: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Share of the credential's quota (X-RateLimit-Limit per "
        "quota_period_secs) that polls finding nothing new may spend, all sources on the "
        "credential together. Catch-up and backfill keep the whole quota.",
    )
    quota_period_secs: int = Field(
        default=3600,
        ge=1,
        le=MAX_DURATION_SECS,
        description="The period X-RateLimit-Limit counts requests over. Mimecast does not "
        "say; its throttle messages read per hour (10000/hour).",
    )
    catchup_slice_secs: int = Field(
        default=14400,
        ge=60,
        le=MAX_DURATION_SECS,
        description="A pass longer than this (a collector that was down, a new tenant) is "
        "cut into up to catchup_parallel time slices read at the same time.",
    )
    catchup_parallel: int = Field(
        default=4,
        ge=1,
        le=16,
        description="How many slices a long catch-up reads at once (1 = never slice). They "
        "share the quota pacer, so this speeds up a catch-up only while the quota allows.",
    )
    checkpoint_interval_secs: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Group commit: while pages flow, the checkpoint is written in the "
        "background, one write for every page acknowledged since the last, and no "
        "acknowledged page stays unsaved longer than this. A kill -9 re-delivers at most "
        "the pages acknowledged in this span (same event ids); 0 = write after every page.",
    )
    retry_max_secs: float = Field(
        default=300.0,
        gt=0,
        le=MAX_DURATION_SECS,
        description="How long one request may keep retrying (429, 5xx, timeouts) before "
        "the cycle fails; the checkpoint then stays where it was.",
    )
    connect_timeout_secs: float = Field(
        default=10.0, gt=0, le=MAX_DURATION_SECS, description="TCP/TLS connect timeout."
    )
    read_timeout_secs: float = Field(
        default=60.0,
        gt=0,
        le=MAX_DURATION_SECS,
        description="How long one answer may take, from sending the request to its last "
        "byte (with connect_timeout_secs on top); a slower answer is retried.",
    )
    max_response_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=64 * 1024,
        le=1024 * 1024 * 1024,
        description="Largest answer accepted from Mimecast (a page of 500 realistic clicks "
        "is about 1 MB). A larger one fails the cycle with an error naming this key.",
    )
    proxy: ProxyUrl = Field(
        default=None, description="HTTP(S) proxy URL, e.g. http://proxy.example:3128."
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle to trust instead of the system store (for TLS-inspecting "
        "proxies). TLS is always verified.",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return check_endpoint_url(value)

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        # It is decoded for every signature; a bad one must stop the config, not a request.
        if value is not None:
            try:
                decoded = base64.b64decode(value.get_secret_value(), validate=True)
            except binascii.Error as exc:  # the reason never quotes the key itself
                raise ValueError(
                    f"is not base64 ({exc}); paste the secret key exactly as Mimecast "
                    "gave it (letters, digits, '+', '/' and '=' padding)"
                ) from None
            if not decoded:
                raise ValueError("is empty once base64-decoded")
        return value

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint this source reads."""
        return ENDPOINTS[self.type]

    @model_validator(mode="after")
    def _check_filters(self) -> Self:
        for key, types in _FILTER_TYPES.items():
            if key in self.model_fields_set and self.type not in types:
                raise PydanticCustomError(
                    "config_key",
                    "{key}: only for type = {types}",
                    {"key": key, "types": " or ".join(f'"{t}"' for t in types)},
                )
        return self

    @model_validator(mode="after")
    def _check_credentials(self) -> Self:
        required = (
            ("client_id", "client_secret")
            if self.auth == "oauth2"
            else ("app_id", "app_key", "access_key", "secret_key")
        )
        for key in required:
            if getattr(self, key) is None:
                raise PydanticCustomError(
                    "config_key",
                    '{key}: is required when auth = "{auth}"',
                    {"key": key, "auth": self.auth},
                )
        return self
