"""Binding contexts to a scenario's clusters: too few contexts skip the scenario, with the
reason, rather than fail it (a three-cluster scenario on a two-cluster mesh)."""

from __future__ import annotations

import pytest

from pytest_clustermesh.errors import UsageError
from pytest_clustermesh.runner import TooFewClusters, context_binder

THREE = ["cluster1", "cluster2", "cluster3"]


def test_contexts_bind_in_order_and_extra_contexts_are_unused() -> None:
    bind = context_binder(["kind-a", "kind-b", "kind-c"], {})
    assert bind(["cluster1", "cluster2"]) == {"cluster1": "kind-a", "cluster2": "kind-b"}
    assert bind(THREE) == {"cluster1": "kind-a", "cluster2": "kind-b", "cluster3": "kind-c"}


def test_fewer_contexts_than_clusters_is_too_few_clusters() -> None:
    with pytest.raises(TooFewClusters) as caught:
        context_binder(["kind-a", "kind-b"], {})(THREE)
    assert str(caught.value) == (
        "the scenario names 3 clusters (cluster1, cluster2, cluster3) but --kube-contexts gives 2"
    )
    assert isinstance(caught.value, UsageError), "outside a scenario item it is a usage error"


def test_named_contexts_too_few_for_the_scenario_is_too_few_clusters() -> None:
    named = {"cluster1": "kind-a", "cluster2": "kind-b"}
    with pytest.raises(TooFewClusters, match=r"binds cluster1, cluster2; .* also needs cluster3"):
        context_binder(list(named.values()), named)(THREE)


def test_named_contexts_that_miss_a_cluster_of_the_scenario_stay_a_usage_error() -> None:
    """Enough contexts, named for other clusters: a mistake in the command line, not a mesh
    too small for the scenario, so it is not skipped."""
    named = {"east": "kind-a", "west": "kind-b"}
    with pytest.raises(UsageError) as caught:
        context_binder(list(named.values()), named)(["cluster1", "cluster2"])
    assert not isinstance(caught.value, TooFewClusters)
    assert "the scenario also needs cluster1, cluster2" in str(caught.value)
