"""Fixtures for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector import secrets


@pytest.fixture(autouse=True)
def _secrets_of_this_test_only() -> Iterator[None]:
    """Each test scrubs only the secrets it loaded itself: the registry is process-wide,
    and a short secret of another test ("secret") would otherwise scrub this test's words."""
    before = secrets.registered_secrets()
    yield
    for value in secrets.registered_secrets() - before:
        secrets.forget_secret(value)
