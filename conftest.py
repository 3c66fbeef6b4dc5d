"""Repository-wide test configuration.

Tests marked ``realcluster`` need a real Cilium Cluster Mesh, given with ``--kube-contexts``;
without it they are skipped with the reason, never silently passed.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("clustermesh_kube_contexts", default=None):
        return
    skip = pytest.mark.skip(reason="needs a real mesh: pass --kube-contexts=CTX1,CTX2")
    for item in items:
        if item.get_closest_marker("realcluster"):
            item.add_marker(skip)
