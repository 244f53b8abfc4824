"""Knowing when a window has been read, whatever Mimecast answers.

Mimecast pages a window with opaque ``next`` tokens, and not every answer plays by
the rules (mimecast-api.md section 2; the simulator's quirk matrix models each).
:class:`PageGuard` looks at every page of one read of a window, in order, before
any of it is delivered, and applies these rules:

1. A page without clicks ends the window, whatever ``next`` says: the empty last
   page may carry the token just sent, a fresh one each time, or ``pageSize: 0``.
2. A page without ``next`` ends the window.
3. A new page whose ``next`` is the token that was just sent: Mimecast is stuck on
   one page. The window is read again from its last complete second
   (:class:`~collector.errors.PageTokenRejectedError`, as for a rejected token).
   When that page repeats an earlier page of the read, it is rule 4's cycle instead.
4. ``next`` is a token already sent in this read (A→B→A, or back to the start):
   following it would only read pages that were read already, so the window ends
   with this page; this page itself is delivered unless it repeats an earlier page
   of the read (then it was delivered as that page).
5. A page with the same clicks as an earlier page of this read, whose ``next`` was
   never sent: Mimecast serves the same data again and again, and what comes after
   it is out of reach. Nothing of it is delivered; the cycle fails with
   :class:`~collector.errors.PaginationLoopError` and the checkpoint stays where it
   was.
6. More than :data:`MAX_STALLED_PAGES` pages in a row bring no click later than the
   window's frontier: the same error. That is 50,000 clicks in one second at 500
   per page, far beyond any real burst, and it bounds the requests of any other
   endless pattern.

Pages whose first and last clicks are byte-identical are left to rule 6 (they never
raise under rule 5): distinct real clicks can be byte-identical, so such a page
proves nothing by repeating.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from enum import Enum

import structlog

from collector.errors import PageTokenRejectedError, PaginationLoopError
from collector.events import ClickLog, content_hash

log = structlog.get_logger("collector.paging")

MAX_STALLED_PAGES = 100
# Tokens and page fingerprints remembered per read: enough for any cycle a server
# could plausibly fall into, bounded so a month-long window keeps memory flat.
MEMORY = 4096

Fingerprint = bytes
"""A 16-byte digest: page size, first and last dates, first and last content hashes.
Digests, not the values: 4,096 remembered pages and tokens of one catch-up slice cost
about 0.9 MB, where the strings cost several MB on a 5M-click backlog."""


class Verdict(Enum):
    """What to do with a page (see the rules in the module doc)."""

    MORE = "deliver it, then ask for the next page"
    LAST = "deliver it; the window is read"
    REPEAT = "deliver nothing (an earlier page of this read had it); the window is read"


class PageGuard:
    """Applies the paging rules above to one read of one window (see the module doc)."""

    def __init__(self, *, max_stalled_pages: int = MAX_STALLED_PAGES) -> None:
        self._max_stalled = max_stalled_pages
        self._tokens: set[bytes] = set()
        self._token_order: deque[bytes] = deque()
        self._prints: dict[Fingerprint, int] = {}
        self._print_order: deque[Fingerprint] = deque()
        self._pages = 0
        self._stalled = 0
        self.empty_with_next = 0
        """Empty pages that still carried ``next`` (rule 1), for the log."""

    def judge(
        self,
        sent: str | None,
        clicks: Sequence[ClickLog],
        next_token: str | None,
        request_id: str,
    ) -> Verdict:
        """What to do with this page; raises when the paging cannot go on."""
        self._pages += 1
        if not clicks:
            if next_token is not None:
                self.empty_with_next += 1
            return Verdict.LAST
        if next_token is None:
            return Verdict.LAST
        fingerprint, uniform = _fingerprint(clicks)
        seen_at = self._prints.get(fingerprint) if fingerprint is not None else None
        if next_token == sent and seen_at is None:
            raise PageTokenRejectedError(
                "Mimecast returned the same pageToken it was sent with a full page "
                "(pagination loop)",
                request_id=request_id,
            )
        if sent is not None:
            self._remember_token(_digest(sent))
        if _digest(next_token) in self._tokens:
            log.warning(
                "pagination_cycle",
                message="Mimecast's next pageToken points back to a page already read in "
                "this window; the window ends here (every page after it was read)",
                pages=self._pages,
                repeated_page=seen_at,
                request_id=request_id,
            )
            return Verdict.LAST if seen_at is None else Verdict.REPEAT
        if seen_at is not None and not uniform:
            raise PaginationLoopError(
                f"Mimecast served page {self._pages} of this window with the same clicks as "
                f"page {seen_at} under a new pageToken (a pagination loop); nothing of it was "
                "delivered and the checkpoint is unchanged",
                request_id=request_id,
            )
        if fingerprint is not None and seen_at is None:
            self._remember_print(fingerprint)
        return Verdict.MORE

    def advanced(self, moved: bool, request_id: str) -> None:
        """Record whether a page moved the window's frontier; rule 6."""
        self._stalled = 0 if moved else self._stalled + 1
        if self._stalled > self._max_stalled:
            raise PaginationLoopError(
                f"Mimecast served {self._stalled} pages in a row without a click later than "
                "the last one delivered (an endless pagination pattern); nothing of them was "
                "delivered and the checkpoint is unchanged",
                request_id=request_id,
            )

    def _remember_print(self, fingerprint: Fingerprint) -> None:
        self._prints[fingerprint] = self._pages
        self._print_order.append(fingerprint)
        if len(self._print_order) > MEMORY:
            del self._prints[self._print_order.popleft()]

    def _remember_token(self, token: bytes) -> None:
        self._tokens.add(token)
        self._token_order.append(token)
        if len(self._token_order) > MEMORY:
            self._tokens.discard(self._token_order.popleft())


def _fingerprint(clicks: Sequence[ClickLog]) -> tuple[Fingerprint | None, bool]:
    """A cheap identity of a page (size, first and last click), and whether its first
    and last clicks are byte-identical (then its repeat proves nothing by itself)."""
    first, last = clicks[0], clicks[-1]
    if not (isinstance(first, dict) and isinstance(last, dict)):
        return None, True
    head, tail = content_hash(first), content_hash(last)
    # repr, not a tuple key: a hostile date may be a list or an object (unhashable).
    identity = repr((len(clicks), first.get("date"), last.get("date"), head, tail))
    return hashlib.blake2b(identity.encode(), digest_size=16).digest(), head == tail


def _digest(token: str) -> bytes:
    """What is remembered of a pageToken: 16 bytes, whatever its length."""
    # surrogatepass: whatever a JSON parser let through, remembering it never raises.
    return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()
