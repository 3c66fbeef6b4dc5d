"""pytest-xdist scheduling that keeps a scenario's items on one worker, in order.

A scenario's items share its deployment and its step state, so splitting them across workers
would deploy it twice and interleave steps. The default ``load`` distribution is replaced by a
scope scheduler whose scope is the scenario file for scenario items and the item itself for
everything else. (xdist's own ``loadgroup`` rewrites a private node id attribute that pytest 9.2
no longer reads, so it cannot be relied on.)
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from .collect import is_scenario_file


class ScenarioScheduling(LoadScopeScheduling):  # type: ignore[misc]
    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self._config = config

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        if is_scenario_file(self._config, PurePosixPath(path)):  # type: ignore[arg-type]
            return path
        return nodeid
