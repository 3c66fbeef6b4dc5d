"""Fault injection: errors, latency and dropped connections on the HTTP API, counted.

Faults are decided per HTTP request (REST calls, discovery, ``/version`` and the exec
handshake); health endpoints and the Python-side state API never see them.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from .status import REASONS


@dataclass(frozen=True)
class Faults:
    """What to inject; replace a cluster's ``faults`` to change it live."""

    error_rate: float = 0.0
    """Probability that a request is answered with one of ``error_statuses`` instead."""
    error_statuses: tuple[int, ...] = (500, 429)
    """Picked from uniformly; each is answered with a real ``Status`` of that code."""
    latency: float = 0.0
    """Seconds added before every request is handled."""
    drop_rate: float = 0.0
    """Probability that the connection is closed without any response."""
    exec_delay: float = 0.0
    """Seconds between an exec's handshake and the handler being called."""
    seed: int | None = None
    """Seed of the random choices, for reproducible runs."""
    retry_after: int | None = 1
    """``Retry-After`` seconds sent with 429 and 503; ``None`` sends no header."""

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.latency < 0 or self.exec_delay < 0:
            raise ValueError("delays must not be negative")
        unknown = [code for code in self.error_statuses if code not in REASONS or code < 400]
        if unknown or (self.error_rate and not self.error_statuses):
            raise ValueError(f"error_statuses must be API error codes, not {unknown or '()'}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must not be negative")


@dataclass(frozen=True)
class FaultCounts:
    """What a cluster has seen since it started (or since :meth:`FaultInjector.reset`)."""

    requests: int = 0
    """HTTP requests subject to faults, injected or not."""
    errors: Mapping[int, int] = field(default_factory=dict)
    """Injected error responses by status code."""
    drops: int = 0
    delayed: int = 0
    """Requests slowed down by ``latency``."""
    exec_delayed: int = 0

    @property
    def injected(self) -> int:
        """Requests that did not get their normal answer."""
        return sum(self.errors.values()) + self.drops


@dataclass(frozen=True)
class Decision:
    """The faults one request gets."""

    latency: float = 0.0
    drop: bool = False
    error: int | None = None
    retry_after: int | None = None


class FaultInjector:
    """Decides faults request by request and counts them; safe to use from any thread."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self._faults = faults or Faults()
        self._rng = random.Random(self._faults.seed)
        self._counts = Counter[str]()
        self._errors = Counter[int]()

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)

    def decide(self) -> Decision:
        with self._lock:
            faults = self._faults
            self._counts["requests"] += 1
            if faults.latency:
                self._counts["delayed"] += 1
            if faults.drop_rate and self._rng.random() < faults.drop_rate:
                self._counts["drops"] += 1
                return Decision(faults.latency, drop=True)
            if faults.error_rate and self._rng.random() < faults.error_rate:
                code = self._rng.choice(faults.error_statuses)
                self._errors[code] += 1
                retry_after = faults.retry_after if code in (429, 503) else None
                return Decision(faults.latency, error=code, retry_after=retry_after)
            return Decision(faults.latency)

    def exec_delay(self) -> float:
        with self._lock:
            if self._faults.exec_delay:
                self._counts["exec_delayed"] += 1
            return self._faults.exec_delay

    def counts(self) -> FaultCounts:
        with self._lock:
            return FaultCounts(
                requests=self._counts["requests"],
                errors=dict(self._errors),
                drops=self._counts["drops"],
                delayed=self._counts["delayed"],
                exec_delayed=self._counts["exec_delayed"],
            )

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._errors.clear()
