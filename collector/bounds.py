"""Upper bounds of the config's numbers, shared by every config model.

Every duration, and every count that feeds a wait, a timeout or an allocation, has
a ceiling: a typo such as ``interval_secs = 1e20`` is then a config error naming its
key (exit 2), not an ``OverflowError`` deep inside asyncio or the scheduler. The
ceilings are far above any useful value; ``docs/configuration.md`` shows each one.
Floats must also be finite (``nan`` and ``inf`` are refused by the models' config).
"""

from __future__ import annotations

DAY_SECS = 86_400

MAX_DURATION_SECS = 7 * DAY_SECS
"""Intervals, timeouts, backoffs and retry budgets: a week at most."""

MAX_LOOKBACK_SECS = 365 * DAY_SECS
"""How far back a first cycle may start (clamped to Mimecast's 30-day retention anyway)."""

MAX_FILE_AGE_SECS = 366 * DAY_SECS
"""A file sink's rotation age: yearly rotation at most."""

MAX_BATCH_EVENTS = 100_000
"""Events per request to an HTTP receiver."""

MAX_BATCH_BYTES = 100 * 1024 * 1024
"""Bytes per request body (Elasticsearch's own default limit is 100 MB)."""

MAX_FILE_BYTES = 1024**4
"""A file sink's rotation size: 1 TiB."""

MAX_KEPT_FILES = 10_000
"""Rotated files a file sink keeps."""

MAX_SYSLOG_MESSAGE_BYTES = 16 * 1024 * 1024
"""Largest syslog message (RFC 5425 receivers accept far less by default)."""
