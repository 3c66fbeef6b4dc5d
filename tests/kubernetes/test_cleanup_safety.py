"""Cleanup deletes only what it labelled, and only the run it is asked to clean.

Two runs share the emulated mesh, each with a namespace and a cluster-wide policy in both
clusters, next to a namespace nobody labelled. Tearing down or cleaning one run must leave the
other run's objects, and the unlabelled namespace, where they are.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from clustermesh_emulator import Emulator
from pytest_clustermesh.backend import OWNER_LABEL
from pytest_clustermesh.errors import BackendError
from pytest_clustermesh.kubernetes.cleanup import Leftover, delete, main, teardown
from pytest_clustermesh.kubernetes.clients import Cluster
from pytest_clustermesh.kubernetes.manifests import RUN_LABEL

from .conftest import SETTINGS
from .kubeworld import C1, C2, CLUSTERS

_ids = itertools.count(1)
POLICY_SPEC = {"endpointSelector": {"matchLabels": {"app": "backend"}}, "ingress": [{}]}


@dataclass(frozen=True)
class Run:
    run: str
    key: str

    @property
    def namespace(self) -> str:
        return f"{self.key}-demo"

    @property
    def policy(self) -> str:
        return f"cp-{self.key}"


@dataclass(frozen=True)
class Shared:
    """Two runs' objects and an unlabelled namespace, in every cluster of the emulator."""

    first: Run
    second: Run
    stranger: str


def _create(emulator: Emulator, run: Run) -> None:
    labels = {OWNER_LABEL: run.key, RUN_LABEL: run.run}
    for cluster in emulator:
        cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": run.namespace, "labels": dict(labels)},
            }
        )
        cluster.create(
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumClusterwideNetworkPolicy",
                "metadata": {"name": run.policy, "labels": dict(labels)},
                "spec": POLICY_SPEC,
            }
        )


@pytest.fixture
def shared(emulator: Emulator) -> Iterator[Shared]:
    n = next(_ids)
    first = Run(f"alpha{n}", f"cm-alpha{n}-s-1")
    second = Run(f"beta{n}", f"cm-beta{n}-s-1")
    stranger = f"someone-elses-{n}"
    for run in (first, second):
        _create(emulator, run)
    for cluster in emulator:
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": stranger}})
    yield Shared(first, second, stranger)
    for cluster in emulator:
        for name in (first.namespace, second.namespace, stranger):
            if _alive(emulator, cluster.context, "namespaces", name):
                cluster.delete("namespaces", name)
        for name in (first.policy, second.policy):
            if cluster.get("ccnp", name) is not None:
                cluster.delete("ccnp", name)
    emulator.settle()


def _alive(emulator: Emulator, context: str, kind: str, name: str) -> bool:
    """The object exists and is not being deleted."""
    for cluster in emulator:
        if cluster.context != context:
            continue
        obj = cluster.get(kind, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return False
        return bool(obj.get("status", {}).get("phase") != "Terminating")
    raise AssertionError(f"no cluster {context}")


def _objects(emulator: Emulator, run: Run) -> dict[str, bool]:
    """Whether each of the run's objects is still there, per cluster."""
    found = {}
    for context in CLUSTERS:
        found[f"{context} ns"] = _alive(emulator, context, "namespaces", run.namespace)
        found[f"{context} ccnp"] = _alive(emulator, context, "ccnp", run.policy)
    return found


def _cli(kubeconfig: str, *args: str) -> int:
    return main(["--kubeconfig", kubeconfig, "--contexts", ",".join(CLUSTERS), *args])


def test_teardown_of_one_run_leaves_the_other_run_and_unlabelled_namespaces(
    emulator: Emulator, kubeconfig: str, shared: Shared
) -> None:
    cluster = Cluster(C1, kubeconfig, SETTINGS)
    try:
        deleted = teardown(cluster, shared.first.key, clusterwide=True)
    finally:
        cluster.close()
    emulator.settle()
    assert sorted((d.kind, d.name) for d in deleted) == [
        ("CiliumClusterwideNetworkPolicy", shared.first.policy),
        ("namespace", shared.first.namespace),
    ]
    first = _objects(emulator, shared.first)
    assert not first[f"{C1} ns"] and not first[f"{C1} ccnp"]
    # Teardown is per cluster: the other cluster's copy waits for its own teardown.
    assert all(alive for where, alive in first.items() if not where.startswith(C1))
    assert all(_objects(emulator, shared.second).values())
    assert all(_alive(emulator, c, "namespaces", shared.stranger) for c in CLUSTERS)


def test_teardown_without_clusterwide_leaves_every_cluster_wide_policy(
    emulator: Emulator, kubeconfig: str, shared: Shared
) -> None:
    cluster = Cluster(C1, kubeconfig, SETTINGS)
    try:
        deleted = teardown(cluster, shared.first.key, clusterwide=False)
    finally:
        cluster.close()
    emulator.settle()
    assert [(d.kind, d.name) for d in deleted] == [("namespace", shared.first.namespace)]
    assert _alive(emulator, C1, "ccnp", shared.first.policy)


def test_cleanup_run_deletes_that_runs_cluster_wide_policies_only(
    emulator: Emulator, kubeconfig: str, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(kubeconfig, "--run", shared.first.run) == 0
    emulator.settle()
    out = capsys.readouterr().out
    for context in CLUSTERS:
        assert f"deleted {context}: CiliumClusterwideNetworkPolicy {shared.first.policy}" in out
        assert f"deleted {context}: namespace {shared.first.namespace}" in out
    assert not any(_objects(emulator, shared.first).values())
    assert all(_objects(emulator, shared.second).values())
    assert shared.second.policy not in out and shared.second.namespace not in out
    assert all(_alive(emulator, c, "namespaces", shared.stranger) for c in CLUSTERS)


def test_cleanup_of_every_run_leaves_an_unlabelled_namespace(
    emulator: Emulator, kubeconfig: str, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(kubeconfig, "--min-age", "0") == 0
    emulator.settle()
    out = capsys.readouterr().out
    assert not any(_objects(emulator, shared.first).values())
    assert not any(_objects(emulator, shared.second).values())
    assert all(_alive(emulator, c, "namespaces", shared.stranger) for c in CLUSTERS)
    assert shared.stranger not in out


def test_dry_run_deletes_nothing(
    emulator: Emulator, kubeconfig: str, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(kubeconfig, "--run", shared.first.run, "--dry-run") == 0
    emulator.settle()
    out = capsys.readouterr().out
    assert f"would delete {C1}: CiliumClusterwideNetworkPolicy {shared.first.policy}" in out
    assert "deleted" not in out
    assert all(_objects(emulator, shared.first).values())


def test_without_run_or_min_age_a_fresh_run_is_skipped(
    emulator: Emulator, kubeconfig: str, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default --min-age without --run (1 h) protects a run that may still be going."""
    assert _cli(kubeconfig) == 0
    emulator.settle()
    out = capsys.readouterr().out
    first = shared.first
    objects = (
        f"{C1}: namespace {first.namespace}, {C1}: CiliumClusterwideNetworkPolicy {first.policy}"
    )
    assert f"{C1}: skipped run {first.run} ({objects}): created " in out
    assert f"(--run {first.run} or --min-age 0 deletes it)" in out
    assert all(_objects(emulator, shared.first).values())
    assert all(_objects(emulator, shared.second).values())


def test_a_run_exactly_min_age_old_is_deleted(
    emulator: Emulator, kubeconfig: str, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    created = [
        obj["metadata"]["creationTimestamp"]
        for cluster in emulator
        for obj in (
            cluster.get("namespaces", shared.first.namespace),
            cluster.get("ccnp", shared.first.policy),
        )
        if obj is not None
    ]
    newest = max(datetime.fromisoformat(c.replace("Z", "+00:00")) for c in created)
    at = newest + timedelta(minutes=30)
    args = ["--run", shared.first.run, "--min-age", "30m"]
    assert main(["--kubeconfig", kubeconfig, "--contexts", C1, *args], now=lambda: at) == 0
    emulator.settle()
    assert not _alive(emulator, C1, "namespaces", shared.first.namespace)
    assert f"deleted {C1}: namespace {shared.first.namespace}" in capsys.readouterr().out


def test_a_cluster_with_nothing_left_says_so(
    emulator: Emulator, kubeconfig: str, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(kubeconfig, "--run", "no-such-run") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{context}: nothing to delete" for context in CLUSTERS]
    assert all(_objects(emulator, shared.first).values())


def test_an_unreachable_context_fails_the_command_but_the_others_are_cleaned(
    emulator: Emulator,
    kubeconfig: str,
    shared: Shared,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = emulator.kubeconfig()
    config["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:9"
    broken = tmp_path / "kubeconfig"
    broken.write_text(yaml.safe_dump(config))
    contexts = ",".join(CLUSTERS)
    code = main(["--kubeconfig", str(broken), "--contexts", contexts, "--run", shared.first.run])
    assert code == 1
    captured = capsys.readouterr()
    [error] = captured.err.strip().splitlines()
    assert error.startswith(f"{C1}: cannot reach http://127.0.0.1:9: ")
    assert "Traceback" not in captured.err and error.endswith("connection refused")
    emulator.settle()
    assert _alive(emulator, C1, "namespaces", shared.first.namespace)
    assert not _alive(emulator, C2, "namespaces", shared.first.namespace)
    # The failing context last: the command still fails.
    reordered = f"{C2},{C1}"
    assert main(["--kubeconfig", str(broken), "--contexts", reordered, "--min-age", "0"]) == 1
    capsys.readouterr()


def test_the_contexts_are_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--run", "x"])
    assert exited.value.code == 2
    assert "--contexts" in capsys.readouterr().err


def test_a_context_the_kubeconfig_lacks_fails_the_command_but_the_others_are_cleaned(
    emulator: Emulator, kubeconfig: str, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--kubeconfig", kubeconfig, "--contexts", f"no-such-context,{C2}", "--min-age", "0"]
    )
    assert code == 1
    captured = capsys.readouterr()
    [error] = captured.err.strip().splitlines()
    assert "no-such-context" in error and "Traceback" not in captured.err
    emulator.settle()
    assert not _alive(emulator, C2, "namespaces", shared.first.namespace)


def test_a_cluster_that_forbids_listing_fails_with_one_line_and_deletes_nothing(
    emulator: Emulator, kubeconfig: str, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    forbidden = next(c for c in emulator if c.context == C1)
    forbidden.forbid("list", "namespaces")
    try:
        assert _cli(kubeconfig, "--run", shared.first.run) == 1
        captured = capsys.readouterr()
        [error] = captured.err.strip().splitlines()
        assert error.startswith(f"{C1}: ") and "Traceback" not in captured.err
        assert "403" in error or "forbidden" in error.lower()
        cluster = Cluster(C1, kubeconfig, SETTINGS)
        try:
            with pytest.raises(BackendError) as caught:
                teardown(cluster, shared.first.key, clusterwide=True)
        finally:
            cluster.close()
        message = str(caught.value)
        assert message.startswith(f"{C1}: cannot list {shared.first.key}'s objects: ")
        assert "403" in message or "forbidden" in message.lower()
    finally:
        forbidden.clear_forbidden()
    emulator.settle()
    assert _alive(emulator, C1, "namespaces", shared.first.namespace)
    assert not _alive(emulator, C2, "namespaces", shared.first.namespace)


def test_what_is_already_gone_is_not_deleted_and_what_cannot_be_deleted_says_so(
    emulator: Emulator, kubeconfig: str, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = Cluster(C1, kubeconfig, SETTINGS)
    forbidden = next(c for c in emulator if c.context == C1)
    try:
        for kind in ("namespace", "CiliumClusterwideNetworkPolicy"):
            assert delete(cluster, Leftover(C1, kind, "never-existed")) is False
        forbidden.forbid("delete", "namespaces")
        leftover = Leftover(C1, "namespace", shared.first.namespace)
        with pytest.raises(BackendError) as caught:
            delete(cluster, leftover)
        assert str(caught.value).startswith(f"{leftover}: cannot delete: ")
        assert "403" in str(caught.value) or "forbidden" in str(caught.value).lower()
        assert _cli(kubeconfig, "--run", shared.first.run) == 1
        [error] = capsys.readouterr().err.strip().splitlines()
        assert error.startswith(f"{C1}: {leftover}: cannot delete: HTTP 403")
    finally:
        forbidden.clear_forbidden()
        cluster.close()
    assert _alive(emulator, C1, "namespaces", shared.first.namespace)


def test_an_object_without_a_run_id_label_is_judged_alone(
    emulator: Emulator, kubeconfig: str, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    """Owned (it has the ownership label) but of no known run: never cleaned with ``--run``;
    without it, skipped while young, on its own."""
    name = f"{shared.stranger}-owned"
    for cluster in emulator:
        cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": {OWNER_LABEL: "cm-old-style"}},
            }
        )
    try:
        assert _cli(kubeconfig, "--run", shared.first.run) == 0
        assert _cli(kubeconfig) == 0
        out = capsys.readouterr().out
        assert f"{C1}: skipped run namespace {name} (no run-id label) (" in out
        assert "--run" not in out.split(f"namespace {name} (no run-id label)")[1].split("\n")[0]
        emulator.settle()
        assert all(_alive(emulator, c, "namespaces", name) for c in CLUSTERS)
    finally:
        for cluster in emulator:
            cluster.delete("namespaces", name)


def test_a_cluster_that_forbids_listing_cluster_wide_policies_is_not_cleaned(
    emulator: Emulator, kubeconfig: str, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a missing CRD (404) means "no cluster-wide policies"; any other failure to list them
    fails the cluster rather than leaving its policies behind unnoticed."""
    forbidden = next(c for c in emulator if c.context == C1)
    forbidden.forbid("list", "ciliumclusterwidenetworkpolicies")
    try:
        assert _cli(kubeconfig, "--run", shared.first.run) == 1
        [error] = capsys.readouterr().err.strip().splitlines()
        assert error.startswith(f"{C1}: ")
    finally:
        forbidden.clear_forbidden()
    emulator.settle()
    assert _alive(emulator, C1, "namespaces", shared.first.namespace)
    assert _alive(emulator, C1, "ccnp", shared.first.policy)
    assert not _alive(emulator, C2, "ccnp", shared.first.policy)
