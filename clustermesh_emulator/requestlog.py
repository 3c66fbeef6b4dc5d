"""The record of HTTP requests a cluster served, for tests to assert on."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import parse_qs


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    """The raw query string; :attr:`params` parses it."""
    status: int
    """The status sent: 101 for an exec upgrade, 0 for a dropped connection."""
    fault: str | None = None
    """``"error"`` or ``"drop"`` when the answer was an injected fault."""
    duration: float = 0.0

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def __str__(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"{self.method} {self.path}{query} -> {self.status}"


class RequestLog:
    """An append-only list, safe to read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
