"""Secrets: read from the environment or from files, and never shown again.

Any config model that derives from :class:`SecretsModel` accepts, for each of its
``SecretStr`` fields ``foo``, either ``foo = "..."`` or ``foo_file = "/path"``.
A relative ``foo_file`` is looked up in ``$CREDENTIALS_DIRECTORY`` when systemd set
it (``LoadCredential=``), which also covers container secrets mounted as files.

Every secret value that is loaded is also registered here, so :func:`scrub`, the
one scrubber, removes it from any log line, printed error, ``/readyz`` answer or
``health.json`` that might carry it by accident. :func:`scrub` also redacts the
userinfo of URLs (``https://user:password@host``).
"""

from __future__ import annotations

import os
import re
import types
import typing
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator
from pydantic_core import PydanticCustomError

from collector.fsutil import read_regular_file

_registered: set[str] = set()
# The same, longest first, so a secret containing another one is replaced whole.
_by_length: tuple[str, ...] = ()

# Secrets shorter than this are not scrubbed from logs: replacing "a" everywhere
# would make logs unreadable, and such a secret protects nothing anyway.
_MIN_SCRUB_LENGTH = 6

# A secret file is a key or a token, never more than a few KiB; anything larger (or a
# device such as /dev/zero) is a mistake that must not exhaust memory.
MAX_SECRET_FILE_BYTES = 64 * 1024

# The userinfo of a URL (``scheme://user:password@host``): everything between ``//``
# and the last ``@`` before the path, query, fragment, whitespace or a quote.
_URL_USERINFO = re.compile(r"://[^/?#\s\"'<>@]*(?:@[^/?#\s\"'<>@]*)*@")


def _forms(value: str) -> set[str]:
    # A secret may come back from a peer the way it went out: form-encoded (an OAuth2
    # token endpoint echoing its request body) or percent-encoded in a URL.
    return {value, quote_plus(value), quote(value), quote(value, safe="")}


def register_secret(value: str) -> None:
    """Remember a secret value so no log line, error or health report shows it."""
    if len(value) >= _MIN_SCRUB_LENGTH:
        _registered.update(_forms(value))
        _sort()


def forget_secret(value: str) -> None:
    """Stop scrubbing ``value`` (a bearer token replaced by a new one), so the set stays small."""
    _registered.difference_update(_forms(value))
    _sort()


def _sort() -> None:
    global _by_length
    _by_length = tuple(sorted(_registered, key=len, reverse=True))


def registered_secrets() -> frozenset[str]:
    """Every secret value loaded so far."""
    return frozenset(_registered)


def redact_url(url: str) -> str:
    """``url`` with its userinfo (``user:password@``) replaced by ``***@``."""
    return _URL_USERINFO.sub("://***@", url)


def scrub(text: str) -> str:
    """``text`` fit to print or store: every registered secret and URL userinfo replaced.

    The one scrubber: logs, CLI output, ``/readyz`` and ``health.json`` all pass through it.
    """
    for secret in _by_length:
        if secret in text:
            text = text.replace(secret, "***")
    return redact_url(text) if "://" in text else text


def read_secret_file(path_text: str) -> str:
    """Read a secret from a file; a relative path is resolved in $CREDENTIALS_DIRECTORY.

    Symbolic links are followed (systemd credentials, Kubernetes secrets), but what they
    lead to must be a regular file of at most ``MAX_SECRET_FILE_BYTES``.

    Raises OSError or ValueError with a message fit for the user.
    """
    path = Path(path_text)
    credentials_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and credentials_dir:
        path = Path(credentials_dir) / path
    raw = read_regular_file(path, MAX_SECRET_FILE_BYTES).decode("utf-8")
    # Files written by editors or `echo` end with a newline that is not part of the secret.
    value = raw.rstrip("\r\n")
    if not value:
        raise ValueError(f"secret file {str(path)!r} is empty")
    return value


def _is_secret_annotation(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return SecretStr in typing.get_args(annotation)
    return False


class SecretsModel(BaseModel):
    """A frozen, strict config model whose SecretStr fields also accept ``<name>_file``."""

    # nan and inf pass a "> 0" check and then break a sleep or a timeout: refuse them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _load_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, field in cls.model_fields.items():
            file_key = f"{name}_file"
            if file_key not in data or not _is_secret_annotation(field.annotation):
                continue
            file_value = data.pop(file_key)
            if data.get(name) is not None:
                raise PydanticCustomError(
                    "config_key",
                    "{key}: give either {name} or {key}, not both",
                    {"key": file_key, "name": name},
                )
            if not isinstance(file_value, str):
                raise PydanticCustomError(
                    "config_key", "{key}: must be a file path", {"key": file_key}
                )
            try:
                data[name] = read_secret_file(file_value)
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise PydanticCustomError(
                    "config_key",
                    "{key}: cannot read secret file {path}: {reason}",
                    {"key": file_key, "path": repr(file_value), "reason": reason},
                ) from None
        return data

    @model_validator(mode="after")
    def _register_secrets(self) -> SecretsModel:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                register_secret(value.get_secret_value())
        return self
