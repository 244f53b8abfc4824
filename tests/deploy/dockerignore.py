"""A small .dockerignore matcher: which repository files reach the Docker build context.

Follows Docker's rules for the patterns this repository uses: patterns are relative to
the context root, ``*`` and ``?`` stay within one path segment, ``**`` spans any number of
segments, a pattern also matches everything below a matching directory, ``!`` re-includes,
and the last matching pattern wins.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

# Never worth walking: huge, and always excluded by the allow-list anyway.
_PRUNE = {".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}


def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def load_patterns(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """The (exclude?, regex) rules of a .dockerignore file, in order."""
    rules = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((not negated, _glob_to_regex(pattern)))
    return rules


def is_excluded(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """True when ``relative`` (a POSIX path in the context) is left out of the context."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for exclude, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            excluded = exclude
    return excluded


def context_files(root: Path) -> list[str]:
    """Every file of ``root`` that .dockerignore lets into the build context."""
    rules = load_patterns(root / ".dockerignore")
    kept = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _PRUNE]
        for name in filenames:
            relative = Path(directory, name).relative_to(root).as_posix()
            if not is_excluded(relative, rules):
                kept.append(relative)
    return sorted(kept)


def copy_build_context(root: Path, target: Path) -> list[str]:
    """Copy the build context of ``root`` to ``target``; return the files copied."""
    files = context_files(root)
    for relative in files:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, destination)
    return files
