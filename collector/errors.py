"""The one exception tree of mimecast-collector.

::

    CollectorError                       every error we raise on purpose
     ├── ConfigError                     bad config file or CLI usage (exit code 2)
     ├── CheckpointError                 unreadable, corrupt or locked checkpoint
     ├── BackpressureTooLongError        an endpoint asked to wait past the retry budget
     ├── SourceError                     Mimecast could not be read
     │    ├── MimecastApiError           Mimecast answered with an error (code + message)
     │    │    ├── AuthError             credentials rejected (401/403)
     │    │    │    └── BindingExpiredError   API 1.0 key binding expired (418)
     │    │    ├── PageTokenRejectedError     a pageToken Mimecast no longer accepts
     │    │    ├── PaginationLoopError   pages that never end (collector.paging)
     │    │    └── ResponseTooLargeError an answer over max_response_bytes
     │    └── TransientSourceError*      worth retrying: 5xx, timeouts, retryable fail[]
     │         └── RateLimitedError*     429, with the wait Mimecast asked for
     └── SinkError                       a sink could not deliver
          └── TransientSinkError*        worth retrying: receiver down, 5xx, 429

    * also a RetryableError: the retry policy (collector.retry) retries exactly these.

Every message names its cause in the user's terms: a config key, a Mimecast error
code, or a sink's answer. The CLI prints ``str(error)`` and never a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.events import Batch


class CollectorError(Exception):
    """Base class of every error the collector raises on purpose."""


class ConfigError(CollectorError):
    """The configuration or the command line is wrong. Exit code 2."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class CheckpointError(CollectorError):
    """A checkpoint cannot be read, parsed, written or locked."""


class RetryableError(Exception):
    """Mixin: the operation may succeed if tried again later.

    ``retry_after_secs`` is the least time to wait before the next try, when the
    remote side said so (``X-RateLimit-Reset``, ``Retry-After``); None otherwise.
    """

    retry_after_secs: float | None = None


class SourceError(CollectorError):
    """Mimecast could not be read."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        self.request_id = request_id
        super().__init__(message)


class MimecastApiError(SourceError):
    """Mimecast answered with an error that retrying will not fix."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.code = code
        self.http_status = http_status
        super().__init__(message, request_id=request_id)


class AuthError(MimecastApiError):
    """Mimecast rejected the credentials or the permissions (HTTP 401 or 403)."""


class BindingExpiredError(AuthError):
    """The API 1.0 access key / secret key binding has expired (HTTP 418)."""


class PageTokenRejectedError(MimecastApiError):
    """Mimecast no longer accepts a pageToken; the window is re-read instead."""


class PaginationLoopError(MimecastApiError):
    """Mimecast's pages never end (the same clicks again and again); the cycle stops."""


class ResponseTooLargeError(MimecastApiError):
    """Mimecast's answer is larger than ``max_response_bytes``."""


class TransientSourceError(SourceError, RetryableError):
    """A Mimecast failure worth retrying: 5xx, timeout, dropped connection, bad body."""

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        retry_after_secs: float | None = None,
    ) -> None:
        self.retry_after_secs = retry_after_secs
        super().__init__(message, request_id=request_id)


class RateLimitedError(TransientSourceError):
    """Mimecast answered 429: over quota. ``retry_after_secs`` says how long to wait."""


class BackpressureTooLongError(CollectorError):
    """An endpoint asked for a wait longer than the retry budget: the cycle stops."""


class SinkError(CollectorError):
    """A sink could not deliver a page."""

    def __init__(self, sink: str, message: str) -> None:
        self.sink = sink
        super().__init__(f"sink {sink}: {message}")


class TransientSinkError(SinkError, RetryableError):
    """A sink failure worth retrying: receiver down, timeout, 5xx, 429.

    ``pending`` is the partial progress of the page: the events the receiver has not
    accepted yet, which are all that the next attempt sends (an HTTP sink whose page
    was half indexed). None means the whole page is to be sent again.
    """

    def __init__(
        self,
        sink: str,
        message: str,
        *,
        retry_after_secs: float | None = None,
        pending: Batch | None = None,
    ) -> None:
        self.retry_after_secs = retry_after_secs
        self.pending = pending
        super().__init__(sink, message)


def first_leaf(error: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups, or ``error`` itself.

    A TaskGroup wraps whatever its tasks raised in an ExceptionGroup, whose own
    message ("unhandled errors in a TaskGroup") names no cause; the first leaf does.
    """
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error
