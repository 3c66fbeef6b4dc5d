"""What mutation testing of ``kubernetes/cleanup.py`` showed nothing pinned (docs/mutation.md).

The cleanup command's ``--help`` (what a user reads before deleting anything), a namespace that
is already being deleted, a cluster without Cilium's CRDs, how often a failing API call is
tried, what the debug log says each request is, and how a ``creationTimestamp`` is read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from clustermesh_emulator import ClusterConfig, Emulator, Faults
from clustermesh_emulator import resources as emulated_resources
from pytest_clustermesh.backend import OWNER_LABEL
from pytest_clustermesh.kubernetes.cleanup import _timestamp, main
from pytest_clustermesh.kubernetes.manifests import RUN_LABEL

from .kubeworld import C1

PROG = "python -m pytest_clustermesh.kubernetes.cleanup"


# -- the help a user reads --------------------------------------------------------------------


def test_help_names_the_command_the_label_and_every_option_with_its_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """README.md and docs/real-clusters.md send the user to this command; ``--help`` is where
    its defaults are written (``--min-age`` is 1h without ``--run``, 0 with it: the default
    that keeps a concurrent job's run alive)."""
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: argparse wraps at $COLUMNS
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith(f"usage: {PROG} [-h] [--kubeconfig KUBECONFIG] --contexts ")
    assert f"Delete namespaces and cluster-wide policies labelled {OWNER_LABEL}." in lines
    helps = {
        "--kubeconfig KUBECONFIG": "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)",
        "--contexts CONTEXTS": "comma-separated kubeconfig contexts",
        "--run RUN": "only this run id's objects, by exact run-id label (default: every "
        "run's that is older than --min-age)",
        "--min-age MIN_AGE": "delete only runs whose objects are all older than this, like "
        "30m or 2h (default: 1h without --run, 0 with it); 0 deletes every run",
        "--dry-run": "print what would be deleted",
    }
    words = " ".join(text.split())  # an option's help may start on the line after it
    for option, help_text in helps.items():
        assert f" {option} {help_text} " in f"{words} ", option


# -- a namespace already being deleted --------------------------------------------------------


@pytest.fixture(scope="module")
def slow() -> Iterator[Emulator]:
    """One cluster whose deleted namespaces stay ``Terminating`` for a minute."""
    with Emulator([ClusterConfig(namespace_delete_delay=60.0)]) as emulated:
        yield emulated


def _namespace(name: str, run: str) -> dict[str, object]:
    labels = {OWNER_LABEL: f"cm-{run}-s-1", RUN_LABEL: run}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def test_a_namespace_already_terminating_is_not_deleted_again(
    slow: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second DELETE of a ``Terminating`` namespace is answered 409 Conflict while its
    finalizers run ("The system is ensuring all content is removed from this namespace",
    kubernetes ``pkg/registry/core/namespace/storage/storage.go``, ``REST.Delete``), so the
    command leaves it out instead of failing on it or claiming to delete it. (The emulator
    answers that DELETE 200, so here the skip shows only in what the command prints.)"""
    [cluster] = slow
    cluster.create(_namespace("going", "gone1"))
    cluster.create(_namespace("staying", "gone1"))
    cluster.delete("namespaces", "going")
    going = cluster.get("namespaces", "going")
    assert going is not None and going["status"]["phase"] == "Terminating"
    kubeconfig = str(slow.kubeconfig_path)
    context = cluster.context
    args = ["--kubeconfig", kubeconfig, "--contexts", context, "--run", "gone1"]
    assert main([*args, "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"would delete {context}: namespace staying"]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines() == [f"deleted {context}: namespace staying"]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines() == [f"{context}: nothing to delete"]


# -- a cluster without Cilium's CRDs ----------------------------------------------------------


def test_a_cluster_without_ciliums_crds_has_no_cluster_wide_policies(
    slow: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where the CiliumClusterwideNetworkPolicy CRD is not installed, listing it is 404 (the
    API server serves no such resource), which means there is nothing of that kind to delete:
    the cluster's namespaces are still cleaned and the command succeeds."""
    ccnp = ("cilium.io", "v2", "ciliumclusterwidenetworkpolicies")
    assert ccnp in emulated_resources._BY_PATH
    monkeypatch.delitem(emulated_resources._BY_PATH, ccnp)  # the API server no longer serves it
    [cluster] = slow
    cluster.create(_namespace("nocrd", "nocrd1"))
    kubeconfig = str(slow.kubeconfig_path)
    context = cluster.context
    assert main(["--kubeconfig", kubeconfig, "--contexts", context, "--run", "nocrd1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"deleted {context}: namespace nocrd"]
    assert captured.err == ""


# -- how often an API call is tried, and what the log calls it --------------------------------


def test_the_command_tries_a_failing_api_call_three_times(
    emulator: Emulator, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``KubernetesSettings(api_attempts=3)``: a cluster answering 429 to everything is asked
    three times, then reported, and the command fails."""
    [target] = [c for c in emulator if c.context == C1]
    target.clear_requests()
    emulator.set_faults(Faults(error_rate=1.0, error_statuses=(429,), retry_after=0), target.name)
    try:
        assert main(["--kubeconfig", kubeconfig, "--contexts", C1, "--min-age", "0"]) == 1
    finally:
        emulator.set_faults(Faults(), target.name)
    listed = [r for r in target.requests if r.path == "/api/v1/namespaces"]
    assert len(listed) == 3
    [error] = capsys.readouterr().err.strip().splitlines()
    assert error.startswith(f"{C1}: ") and "429" in error


def test_the_debug_log_names_each_request(
    emulator: Emulator, kubeconfig: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With ``--log-level=DEBUG`` each API request is logged by what it does."""
    [target] = [c for c in emulator if c.context == C1]
    labels = {OWNER_LABEL: "cm-logged1-s-1", RUN_LABEL: "logged1"}
    target.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "logged", "labels": labels}}
    )
    target.create(
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumClusterwideNetworkPolicy",
            "metadata": {"name": "logged", "labels": dict(labels)},
            "spec": {"endpointSelector": {}, "ingress": [{}]},
        }
    )
    with caplog.at_level(logging.DEBUG, logger="pytest_clustermesh"):
        assert main(["--kubeconfig", kubeconfig, "--contexts", C1, "--run", "logged1"]) == 0
    emulator.settle()
    messages = [r.getMessage() for r in caplog.records]
    for what in (
        f"LIST namespaces -l {OWNER_LABEL}",
        f"LIST CiliumClusterwideNetworkPolicy -l {OWNER_LABEL}",
        "DELETE namespace logged",
        "DELETE CiliumClusterwideNetworkPolicy logged",
    ):
        assert f"{C1}: {what}" in messages, what
    assert target.get("ccnp", "logged") is None


# -- creationTimestamp ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # An aware datetime, as the Kubernetes client parses it, is kept as it is.
        (
            datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 1, 1, 10, tzinfo=UTC),
        ),
        # A naive one is read as UTC (Kubernetes timestamps are UTC, RFC 3339 with "Z").
        (datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ("2026-01-01T12:00:00Z", datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_a_creation_timestamp_is_an_aware_instant(value: object, expected: object) -> None:
    found = _timestamp(value)
    assert found == expected  # an aware and a naive datetime are never equal
    assert found is None or found.tzinfo is not None
