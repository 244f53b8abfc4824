"""Realistic, deterministic attachment-scan and impersonation logs.

The shapes follow Elastic's ``ttp_ap_logs`` and ``ttp_ip_logs`` pipeline test
samples (mimecast-api.md section 7): attachments carry a sha256 ``fileHash``, a
MIME ``fileType`` and the sandbox's padded ``details``; impersonation hits carry an
``MTOKEN:`` id, ``identifiers[]`` with one ``impersonationResults[]`` entry each,
and their date in ``eventTime`` (``2021-10-15T17:10:46+0000``, like clicks).
Several attachments of one message share its ``messageId``, sender and subject.

Each factory returns serialized records plus their facet (what the endpoint's
filters look at); the same seed gives the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import orjson

from collector.simulator import pools
from collector.simulator.generator import DateFormatter, compact_bytes

_FILES: tuple[tuple[str, str], ...] = (
    ("Invoice_{n}.pdf", "application/pdf"),
    ("numbers-{n}.pdf", "application/pdf"),
    ("Rechnung {n}.pdf", "application/pdf"),
    ("Q{q} report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("budget-{n}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (
        "Titus classification v0.{q}.pptx",
        "application/vnd.openxmlformats-officedocument.presentationml",
    ),
    ("scan_{n}.zip", "application/zip"),
    ("setup_{n}.exe", "application/x-dosexec"),
    ("remittance-{n}.html", "text/html"),
    ("voicemail-{n}.iso", "application/x-iso9660-image"),
    ("order {n}.js", "application/javascript"),
    ("Résumé {n}.doc", "application/msword"),
    ("見積書_{n}.pdf", "application/pdf"),
)
# (result, weight, actionTriggered choices, definitions)
_VERDICTS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("safe", 0.85, ("user release, none", "none, none")),
    ("malicious", 0.08, ("hold, bounce", "block, none", "sandbox, hold")),
    ("timeout", 0.03, ("none, none", "admin release, none")),
    ("error", 0.02, ("none, none",)),
    ("unsafe", 0.02, ("hold, none",)),
)
_ATTACHMENT_DEFINITIONS = {
    "inbound": ("Inbound - Safe file with On-Demand Sandbox", "Default Inbound Attachment Protect"),
    "outbound": ("Outbound - Immediate Sandbox",),
    "internal": ("Internal - Safe file with On-Demand Sandbox",),
}
_IDENTIFIERS = (
    "internal_user_name",
    "targeted_threat_dictionary",
    "similar_internal_domain",
    "newly_observed_domain",
    "custom_external_domain",
    "mimecast_external_domain",
    "reply_address_mismatch",
)
_IMPERSONATION_ACTIONS = (
    ("none", "Tag email"),
    ("hold", "Hold for Review / User Hold"),
    ("bounce", "Bounce"),
    ("delete", "Delete"),
)
# The base64url alphabet of the zlib-compressed token behind an MTOKEN id.
_MTOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class AttachmentFactory:
    """Makes attachment-scan logs; facet ``(route, result)``."""

    def __init__(self, seed: int = 0) -> None:
        pool_rng = random.Random(f"attachment-pools:{seed}")
        self._rng = random.Random(f"attachments:{seed}")
        self._users = pools.users(pool_rng, 256)
        self._senders = pools.senders(pool_rng, 256)
        self._subjects = pools.subjects(pool_rng, 256)
        self._format_date = DateFormatter()
        self._serial = 0
        self._message: tuple[str, str, str, str] = ("", "", "", "")

    def make_many(self, dates: Sequence[int]) -> tuple[list[bytes], list[tuple[str, str]]]:
        """Return one serialized log and its ``(route, result)`` per date."""
        rng = self._rng
        blobs: list[bytes] = []
        facets: list[tuple[str, str]] = []
        pairs: dict[tuple[str, str], tuple[str, str]] = {}
        verdicts = [v[0] for v in _VERDICTS]
        weights = [v[1] for v in _VERDICTS]
        actions = {v[0]: v[2] for v in _VERDICTS}
        for date in dates:
            self._serial += 1
            # About 1 in 4 is another attachment of the previous message.
            if self._serial == 1 or rng.random() >= 0.25:
                sender, domain = rng.choice(self._senders)
                self._message = (
                    "<>" if rng.random() < 0.05 else sender,
                    rng.choice(self._users),
                    rng.choice(self._subjects),
                    f"<{self._serial:x}.{rng.getrandbits(32):08x}@{domain}>",
                )
            sender, recipient, subject, message_id = self._message
            route = rng.choices(("inbound", "outbound", "internal"), (0.85, 0.1, 0.05))[0]
            result = rng.choices(verdicts, weights)[0]
            name, file_type = rng.choice(_FILES)
            log: dict[str, Any] = {
                "senderAddress": sender,
                "recipientAddress": recipient,
                "fileName": name.format(n=rng.randint(100, 99_999), q=rng.randint(1, 4)),
                "fileType": file_type,
                "result": result,
                "actionTriggered": rng.choice(actions[result]),
                "date": self._format_date(date),
                # The sandbox pads its verdict to 50 columns, as in Mimecast's answers.
                "details": f"{result.capitalize():<50}\r\nTime taken: 0 hrs, 0 min, "
                f"{rng.randint(1, 59)} sec",
                "route": route,
                "messageId": message_id,
                "subject": subject,
                "fileHash": f"{rng.getrandbits(256):064x}",
                "definition": rng.choice(_ATTACHMENT_DEFINITIONS[route]),
            }
            blobs.append(compact_bytes(orjson.dumps(log)))
            pair = (route, result)
            facets.append(pairs.setdefault(pair, pair))
        return blobs, facets


ImpersonationFacet = tuple[bool, str, tuple[str, ...], str, str, str, str]
"""``(taggedMalicious, action, identifiers, sender, recipient, subject, definition)``."""


def impersonation_facet(log: dict[str, Any]) -> ImpersonationFacet:
    """Return what the impersonation endpoint's filters look at in ``log``."""
    return (
        bool(log.get("taggedMalicious", False)),
        str(log.get("action", "")),
        tuple(str(i) for i in log.get("identifiers", ())),
        str(log.get("senderAddress", "")),
        str(log.get("recipientAddress", "")),
        str(log.get("subject", "")),
        str(log.get("definition", "")),
    )


class ImpersonationFactory:
    """Makes impersonation-protection logs (inbound messages only)."""

    def __init__(self, seed: int = 0) -> None:
        pool_rng = random.Random(f"impersonation-pools:{seed}")
        self._rng = random.Random(f"impersonations:{seed}")
        self._users = pools.users(pool_rng, 256)
        self._senders = pools.senders(pool_rng, 256)
        self._subjects = pools.subjects(pool_rng, 256)
        self._ips = pools.sending_ips(pool_rng, 256)
        self._format_date = DateFormatter()

    def make_many(self, dates: Sequence[int]) -> tuple[list[bytes], list[ImpersonationFacet]]:
        """Return one serialized log and its facet per date."""
        rng = self._rng
        blobs: list[bytes] = []
        facets: list[ImpersonationFacet] = []
        for date in dates:
            sender, domain = rng.choice(self._senders)
            recipient = rng.choice(self._users)
            hits = rng.choices((1, 2, 3), (0.7, 0.25, 0.05))[0]
            identifiers = rng.sample(_IDENTIFIERS, hits)
            action, label = rng.choices(_IMPERSONATION_ACTIONS, (0.6, 0.3, 0.07, 0.03))[0]
            log: dict[str, Any] = {
                "id": "MTOKEN:eNqrVkouLS7Jz00tSs5PSVWyUnI2MXM0N1XSUcpMUbIy"
                + "".join(rng.choices(_MTOKEN_ALPHABET, k=54)),
                "senderAddress": sender,
                "recipientAddress": recipient,
                "subject": rng.choice(self._subjects),
                "definition": f"IP - {hits} hit{'s' if hits > 1 else ''} ({label})",
                "hits": hits,
                "identifiers": identifiers,
                "action": action,
                "taggedExternal": rng.random() < 0.3,
                "taggedMalicious": rng.random() < 0.6,
                "senderIpAddress": rng.choice(self._ips),
                "eventTime": self._format_date(date),
                "impersonationResults": [
                    _impersonation_result(rng, source, recipient) for source in identifiers
                ],
                "messageId": f"<{rng.getrandbits(64):016X}@{domain}>",
            }
            blobs.append(compact_bytes(orjson.dumps(log)))
            facets.append(impersonation_facet(log))
        return blobs, facets


def _impersonation_result(rng: random.Random, source: str, recipient: str) -> dict[str, Any]:
    """One ``impersonationResults[]`` entry: what looked like whom."""
    if source == "targeted_threat_dictionary":
        word = rng.choice(("wire transfer", "urgent", "payroll", "who", "gift cards"))
        return {"impersonationDomainSource": source, "stringSimilarToDomain": word}
    local = recipient.partition("@")[0]
    display = " ".join(part.capitalize() for part in local.split("."))
    return {
        "impersonationDomainSource": source,
        "similarDomain": f"{display} <{local}@corp-example.example>",
        "stringSimilarToDomain": display,
        "checkerResult": "hit",
    }
