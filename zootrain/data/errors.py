"""The data layer's user-facing error: the command line prints it as one line instead of a traceback."""

from __future__ import annotations


class DataConfigError(RuntimeError):
    """Data that cannot be found or used: says what was looked for, where, and what to do."""


def missing(what: str, looked: list[str], fixes: list[str], reason: str = "") -> DataConfigError:
    """``what`` not found: the places looked at and the ways to fix it, one per line."""
    lines = [f"{what} not found{f' ({reason})' if reason else ''}.", "Looked for:"]
    lines += [f"  - {place}" for place in looked]
    lines += ["To fix, one of:"] + [f"  - {fix}" for fix in fixes]
    return DataConfigError("\n".join(lines))
