"""Format an exception for the ``last_error`` column."""

from __future__ import annotations

import traceback

TRUNCATION_MARKER = "\n…[truncated]…\n"


def format_error(exception: BaseException, max_bytes: int) -> str:
    """Return ``"ExceptionClass: message"``, a newline, then the traceback.

    The result's UTF-8 encoding is at most ``max_bytes``. When it would be
    longer, the message keeps its start and the traceback keeps its end (the
    frame that raised), each cut on a character boundary and joined by
    TRUNCATION_MARKER. NUL characters, which PostgreSQL text can't store,
    are written as ``\\x00``.
    """
    summary = f"{exception_name(exception)}: {exception}"
    trace = "".join(traceback.format_exception(exception, chain=True))
    # A traceback ends by repeating the message, which is already on the first line.
    repeated = "".join(traceback.format_exception_only(exception))
    if trace.endswith(repeated):
        trace = trace[: len(trace) - len(repeated)]
    text = f"{summary}\n{trace}".replace("\x00", "\\x00")

    if len(text.encode()) <= max_bytes:
        return text
    marker_bytes = len(TRUNCATION_MARKER.encode())
    budget = max(max_bytes - marker_bytes, 0)
    head_budget = min(len(summary.encode()), budget // 4)
    head = _cut_bytes(text, head_budget, keep="start")
    tail = _cut_bytes(text, budget - len(head.encode()), keep="end")
    return head + TRUNCATION_MARKER + tail


def escape_non_bmp(text: str) -> str:
    """Write characters outside the Basic Multilingual Plane as ``\\U0001f4a5``.

    For MySQL tables in the 3-byte ``utf8mb3`` character set, which reject them.
    """
    return "".join(char if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}" for char in text)


def exception_name(exception: BaseException) -> str:
    """Return the exception's class name, dotted unless it is a builtin."""
    cls = type(exception)
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _cut_bytes(text: str, max_bytes: int, keep: str) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    if keep == "start":
        return data[:max_bytes].decode(errors="ignore")
    return data[len(data) - max_bytes:].decode(errors="ignore")
