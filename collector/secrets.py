"""Secrets: read from the environment or from files, and never shown again.

Any config model that derives from :class:`SecretsModel` accepts, for each of its
``SecretStr`` fields ``foo``, either ``foo = "..."`` or ``foo_file = "/path"``.
A relative ``foo_file`` is looked up in ``$CREDENTIALS_DIRECTORY`` when systemd set
it (``LoadCredential=``), which also covers container secrets mounted as files.

Every secret value that is loaded is also registered here, so the logging
pipeline can scrub it from any log line that might carry it by accident.
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator
from pydantic_core import PydanticCustomError

_registered: set[str] = set()

# Secrets shorter than this are not scrubbed from logs: replacing "a" everywhere
# would make logs unreadable, and such a secret protects nothing anyway.
_MIN_SCRUB_LENGTH = 6


def register_secret(value: str) -> None:
    """Remember a secret value so log lines never show it."""
    if len(value) >= _MIN_SCRUB_LENGTH:
        _registered.add(value)


def registered_secrets() -> frozenset[str]:
    """Every secret value loaded so far."""
    return frozenset(_registered)


def scrub(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``***``."""
    for secret in _registered:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def read_secret_file(path_text: str) -> str:
    """Read a secret from a file; a relative path is resolved in $CREDENTIALS_DIRECTORY.

    Raises OSError or ValueError with a message fit for the user.
    """
    path = Path(path_text)
    credentials_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and credentials_dir:
        path = Path(credentials_dir) / path
    raw = path.read_text(encoding="utf-8")
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
