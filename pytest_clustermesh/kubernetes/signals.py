"""SIGTERM handled like Ctrl-C, so a CI job cancelled mid-run still tears its objects down.

CI runners stop a job with SIGTERM; Python's default ends the process on the spot, skipping
pytest's finalizers and so the backend's teardown. Raising ``KeyboardInterrupt`` instead walks the
same path as Ctrl-C. Signal handlers can only be set from the main thread; elsewhere this does
nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class TermAsInterrupt:
    """Installs the handler on creation; :meth:`restore` puts the previous one back."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._installed = False
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, _interrupt)
            self._installed = True

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signum}")
