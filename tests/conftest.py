"""Shared test configuration.

Hypothesis is imported up front: pytester's in-process runs drop modules first imported inside
them, and hypothesis's pytest plugin imports the whole library at each run's terminal summary
(about 2 s a run) unless it is already loaded.
"""

from __future__ import annotations

import hypothesis  # noqa: F401
