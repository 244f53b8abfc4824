"""Mimecast's TTP URL logs endpoint, behind the engine's Source seam.

Everything Mimecast-specific lives in this package: authentication (OAuth2, HMAC),
request bodies, answers and errors, the quota pacer, and the config model. The rest
of the collector sees a :class:`~collector.source.Source`, built by :func:`build_source`.
"""

from __future__ import annotations

import httpx

from collector.retry import RetryPolicy
from collector.source import Source
from collector.sources.mimecast.client import MimecastClient, credential_key
from collector.sources.mimecast.config import MimecastSourceConfig
from collector.sources.mimecast.pacer import PacerRegistry
from collector.stats import SourceStats

__all__ = ["MimecastSourceConfig", "PacerRegistry", "build_source"]


def build_source(
    name: str,
    config: MimecastSourceConfig,
    *,
    stats: SourceStats,
    pacers: PacerRegistry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> Source:
    """The source of ``[sources.<name>]``, counting into ``stats`` (the caller owns them);
    sources sharing a credential share ``pacers``' pacer, 429 gate and OAuth2 token."""
    if pacers is None:
        return MimecastClient(name, config, stats=stats, transport=transport, retry=retry)
    key = credential_key(config)
    tokens = None
    if config.auth == "oauth2" and config.client_id and config.client_secret:
        tokens = pacers.tokens_for(key, config.client_id, config.client_secret)
    return MimecastClient(
        name,
        config,
        stats=stats,
        transport=transport,
        retry=retry,
        pacer=pacers.for_credential(key, name),
        tokens=tokens,
    )
