"""How risky a click was, and the severity each output format gives that risk.

The order is the issue's: a malicious URL the user could open ranks highest, then a
malicious URL that was blocked, then a clean one. A click whose scan result is
missing or unknown sits between blocked and clean: nobody vouched for it.

Only ``action = "block"`` counts as blocked. ``warn`` lets the user continue past a
warning page, and an action we do not know could be anything, so both rank with
``allow``: when in doubt, the SIEM should look.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class Risk(IntEnum):
    """The risk classes, lowest first."""

    CLEAN = 0
    UNKNOWN = 1
    MALICIOUS_BLOCKED = 2
    MALICIOUS_ALLOWED = 3


@dataclass(frozen=True, slots=True)
class RiskLevel:
    """Everything the formats say about one risk class.

    Attributes:
        syslog: RFC 5424 severity (0 emergency .. 7 debug).
        cef: CEF severity (0..10).
        leef: LEEF ``sev`` (1..10).
        signature: CEF Device Event Class ID and LEEF EventID.
        name: CEF event name.
    """

    syslog: int
    cef: int
    leef: int
    signature: str
    name: str


LEVELS: dict[Risk, RiskLevel] = {
    Risk.MALICIOUS_ALLOWED: RiskLevel(
        2, 10, 10, "url-malicious-allowed", "Malicious URL clicked and not blocked"
    ),
    Risk.MALICIOUS_BLOCKED: RiskLevel(
        4, 7, 7, "url-malicious-blocked", "Malicious URL clicked and blocked"
    ),
    Risk.UNKNOWN: RiskLevel(5, 5, 5, "url-unknown", "URL clicked, scan result unknown"),
    Risk.CLEAN: RiskLevel(6, 1, 1, "url-clean", "Clean URL clicked"),
}


def classify(click: dict[str, Any]) -> Risk:
    """Return the risk class of one click log (``scanResult`` and ``action``)."""
    scan = click.get("scanResult")
    if not isinstance(scan, str):
        return Risk.UNKNOWN
    scan = scan.lower()
    if scan == "malicious":
        action = click.get("action")
        blocked = isinstance(action, str) and action.lower() == "block"
        return Risk.MALICIOUS_BLOCKED if blocked else Risk.MALICIOUS_ALLOWED
    return Risk.CLEAN if scan == "clean" else Risk.UNKNOWN
