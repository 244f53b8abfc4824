"""Value pools the click generator draws from, built once per seed.

The values imitate what Mimecast returns (mimecast-api.md section 2), including
the awkward parts a collector must survive: non-ASCII subjects, quotes,
backslashes, pipes, ``=``, the odd newline, IPv6 and the literal ``Internal IP``.
Domains use reserved names (``.example``) and documentation address ranges.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy "
    "rupert sybil trent victor walter zoe ana bjorn chloe dmitri elif farah goran hana "
    "ines jonas kenji lea mateo noor oskar priya quentin rosa sven"
)
_LAST = _words(
    "jones smith garcia muller rossi novak kowalski dubois silva tanaka kim nguyen okafor "
    "larsen moreau schmidt brown wilson taylor martin lopez haddad berg fischer weber "
    "ivanova sato costa murphy walsh"
)
_CORP = ("corp.example", "emea.corp.example", "us.corp.example")
_LISTS = ("all-staff", "finance-team", "it-support", "sales-emea", "board")
_SENDER_DOMAINS = (
    "vendor.example",
    "news.example.org",
    "invoices-pay.example",
    "micros0ft-login.example",
    "parcel-track.example.net",
    "hr-portal.example",
    "bank-secure.example.com",
    "cloud-share.example",
    "partner.example.co.uk",
    "xn--bcher-kva.example",
    "marketing.example.io",
    "dropfile.example",
)
_SENDER_LOCALS = _words(
    "billing noreply news hr it-support accounts j.doe m.keller invoices alerts no-reply "
    "security team info support ceo"
)
_PATH_WORDS = _words(
    "login account verify invoice download share docs view auth secure update portal "
    "files campaign track redirect s wp-content uploads session reset"
)
_SUBJECTS = (
    "Invoice {n} overdue",
    "Spring offers: up to {n}% off",
    "Réunion d'équipe : {n} mars",
    "Ihre Rechnung Nr. {n} ist fällig",
    "【重要】アカウント確認のお願い {n}",
    'RE: "Q{q} budget" | final version',
    "Shared file: C:\\Users\\{name}\\Documents\\report-{n}.xlsx",
    "Password expires in {q} days => act now",
    "FW: status=pending; ref={n}",
    "📦 Your parcel {n} is waiting",
    "Payroll | {name} | month {q}",
    "Zahlungserinnerung: Überweisung {n} fehlgeschlagen",
    "Welcome aboard, {name}!",
    "Meeting notes (draft {q})",
    "Ação necessária: verifique sua conta {n}",
    "Urgent: wire transfer \\ approval needed",
)
# Rare on purpose: a newline in a subject breaks line-based SIEM formats.
_NEWLINE_SUBJECTS = ("Quarterly results\nPlease review before {q} PM",)


@dataclass(frozen=True, slots=True)
class Profile:
    """The fields of a click that belong together (a malicious click is blocked, ...)."""

    route: str
    scan_result: str
    action: str
    actions: str
    category: str
    ttp_definition: str
    user_awareness_action: str
    admin_override: str
    user_override: str
    creation_method: str
    email_parts: list[str]
    tag_map: dict[str, Any] | None
    advanced_phishing: dict[str, Any] | None
    internal_ip: bool


def _weighted(rng: random.Random, choices: dict[T, float]) -> T:
    return rng.choices(list(choices), weights=list(choices.values()))[0]


def users(rng: random.Random, count: int) -> list[str]:
    """Return recipient addresses; a few are distribution lists."""
    result = []
    for _ in range(count):
        if rng.random() < 0.02:
            result.append(f"{rng.choice(_LISTS)}@{_CORP[0]}")
        else:
            result.append(f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}@{rng.choice(_CORP)}")
    return result


def senders(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Return ``(address, domain)`` pairs of message senders."""
    result = []
    for _ in range(count):
        domain = rng.choice(_SENDER_DOMAINS)
        result.append((f"{rng.choice(_SENDER_LOCALS)}@{domain}", domain))
    return result


def url_prefixes(rng: random.Random, count: int, *, min_len: int, max_len: int) -> list[str]:
    """Return URLs of a length uniform in ``[min_len, max_len]``, ending in ``cid=``."""
    alphabet = string.ascii_letters + string.digits
    result = []
    for _ in range(count):
        target = rng.randint(min_len, max_len)
        scheme = "https" if rng.random() < 0.9 else "http"
        host = rng.choice(_SENDER_DOMAINS)
        if rng.random() < 0.3:
            host = f"{rng.choice(('www', 'cdn', 'mail', 'files'))}.{host}"
        path = "/".join(rng.choices(_PATH_WORDS, k=rng.randint(1, 4)))
        if rng.random() < 0.1:
            path += "/caf%C3%A9%20menu.pdf"
        core = f"{scheme}://{host}/{path}?utm_source=email&token="
        # The token value pads the URL to its target length; "cid=" comes last so the
        # generator's per-click digits complete it.
        suffix = "&cid="
        pad = max(target - len(core) - len(suffix), 1)
        token = "".join(rng.choices(alphabet, k=pad))
        result.append(f"{core}{token}{suffix}")
    return result


def subjects(rng: random.Random, count: int) -> list[str]:
    """Return message subjects; about 2 in 1000 carry a newline."""
    result = []
    for i in range(count):
        template = rng.choice(_NEWLINE_SUBJECTS if i % 500 == 7 else _SUBJECTS)
        result.append(
            template.format(
                n=rng.randint(100, 99_999),
                q=rng.randint(1, 4),
                name=f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}",
            )
        )
    return result


def sending_ips(rng: random.Random, count: int) -> list[str]:
    """Return sender IPs: IPv4 mostly, IPv6 sometimes (documentation ranges)."""
    result = []
    for _ in range(count):
        if rng.random() < 0.1:
            result.append(f"2001:db8:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}")
        else:
            net = rng.choice(("203.0.113", "198.51.100", "192.0.2", None))
            if net is None:  # some public-looking addresses outside the documentation ranges
                net = f"{rng.randint(11, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
            result.append(f"{net}.{rng.randint(1, 254)}")
    return result


def _tag_map(rng: random.Random, malicious: bool) -> dict[str, Any]:
    verdict = "VerdictBlock" if malicious else "VerdictAllow"
    tags: dict[str, Any] = {
        "UrlReputationScan": {
            "Status": ["CustomerAll", verdict],
            "Type": [rng.choice(("Phishing", "Malware", "Spam"))] if malicious else ["Clean"],
        }
    }
    if malicious and rng.random() < 0.5:
        tags["AdvancedPhishing"] = {"Status": ["Detected"], "UrlBlock": ["True"]}
    if rng.random() < 0.2:
        tags["DangerousFileExt"] = {"Type": [rng.choice((".exe", ".js", ".iso", ".html"))]}
    if rng.random() < 0.2:
        tags["CustomerManagedUrls"] = {"Status": ["NotListed"]}
    return tags


def _advanced_phishing(rng: random.Random) -> dict[str, Any]:
    brand = rng.choice(("Microsoft", "DHL", "PayPal", "DocuSign"))
    return {
        "CredentialTheftBrands": [brand],
        "CredentialTheftEvidence": ["Login form", f"{brand} logo"],
        "CredentialTheftTags": ["credential_theft"],
    }


def _profile(rng: random.Random) -> Profile:
    route = _weighted(rng, {"inbound": 0.80, "outbound": 0.12, "internal": 0.08})
    malicious = rng.random() < (0.12 if route == "inbound" else 0.03)
    if malicious:
        action = _weighted(rng, {"block": 0.85, "warn": 0.15})
        category = rng.choice(
            ("Phishing & Fraud", "Compromised", "Dangerous file extension", "Malware")
        )
    else:
        action = _weighted(rng, {"allow": 0.93, "warn": 0.07})
        category = rng.choice(
            ("Business", "Search Engines & Portals", "News", "Technology", "Uncategorized")
        )
    definitions = {
        "inbound": ("Default Inbound URL Protect Definition", "Inbound URL 'Aggressive'"),
        "outbound": ("Default Outbound URL Protect Definition",),
        "internal": ("Internal URL Protect | Finance",),
    }[route]
    return Profile(
        route=route,
        scan_result="malicious" if malicious else "clean",
        action=action,
        actions={"block": "Block", "allow": "Allow", "warn": "None"}[action],
        category=category,
        ttp_definition=rng.choice(definitions),
        user_awareness_action="Continue" if action == "warn" else rng.choice(("N/A", "NA")),
        admin_override="N/A" if rng.random() < 0.95 else "Allow",
        user_override="None" if rng.random() < 0.97 else "Continue",
        creation_method="User Click" if rng.random() < 0.9 else "Entry Scan",
        email_parts=list(
            _weighted(rng, {("Body",): 0.85, ("Attachment",): 0.1, ("Body", "Attachment"): 0.05})
        ),
        tag_map=_tag_map(rng, malicious) if rng.random() < (0.7 if malicious else 0.1) else None,
        advanced_phishing=_advanced_phishing(rng) if malicious and rng.random() < 0.4 else None,
        internal_ip=route != "inbound" or rng.random() < 0.03,
    )


def profiles(rng: random.Random, count: int) -> list[Profile]:
    """Return coherent field combinations, drawn with realistic frequencies."""
    return [_profile(rng) for _ in range(count)]
