"""Removing what runs created: one deployment at teardown, or the leftovers of crashed runs.

Only objects carrying the ownership label are ever touched, found by label selector: a
namespace someone else created under the same name is left alone. Namespaced objects (pods,
Services, namespaced policies) go with their namespace; cluster-wide policies are deleted one by
one.

As a command::

    python -m pytest_clustermesh.kubernetes.cleanup --kubeconfig K --contexts a,b \
        [--run RUN_ID | --min-age 1h]

``--run`` deletes one run's objects: those whose run-id label is exactly that id. Without it,
every run's objects are candidates, but concurrent CI jobs may share the mesh, so a run is
deleted only if all its objects are older than ``--min-age`` (default one hour, by
``creationTimestamp``; ``--min-age 0`` deletes every run); younger runs are listed as skipped.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kubernetes.client.exceptions import ApiException

from ..backend import OWNER_LABEL
from ..errors import BackendError
from ..policy.tiers import CLUSTERWIDE_KINDS
from .clients import Cluster, describe, not_found
from .manifests import RUN_LABEL
from .policies import RESOURCES, list_clusterwide
from .settings import KubernetesSettings, label_value

Match = Callable[[Mapping[str, str]], bool]


@dataclass(frozen=True)
class Leftover:
    context: str
    kind: str
    """``namespace``, ``CiliumClusterwideNetworkPolicy`` or ``ClusterNetworkPolicy``."""
    name: str
    run: str = ""
    """The run that created it: its run-id label ("" without one)."""
    created: datetime | None = None
    """Its ``creationTimestamp``."""

    def __str__(self) -> str:
        return f"{self.context}: {self.kind} {self.name}"


def find(cluster: Cluster, selector: str, match: Match, clusterwide: bool) -> list[Leftover]:
    """Namespaces (and, if ``clusterwide``, cluster-wide policies: CCNPs and Kubernetes
    ClusterNetworkPolicies) selected by ``selector`` and ``match``."""
    namespaces = cluster.call(
        f"LIST namespaces -l {selector}", cluster.core.list_namespace, label_selector=selector
    ).items
    found = [
        Leftover(
            cluster.context,
            "namespace",
            ns.metadata.name,
            _run_of(ns.metadata.labels or {}),
            _timestamp(ns.metadata.creation_timestamp),
        )
        for ns in namespaces
        if match(ns.metadata.labels or {}) and ns.status.phase != "Terminating"
    ]
    for kind in CLUSTERWIDE_KINDS if clusterwide else ():
        try:
            policies = list_clusterwide(cluster, selector, kind)
        except ApiException as exc:
            if not not_found(exc):  # no CRD: no policies
                raise
            policies = []
        found += [
            Leftover(
                cluster.context,
                kind,
                item["metadata"]["name"],
                _run_of(item["metadata"].get("labels") or {}),
                _timestamp(item["metadata"].get("creationTimestamp")),
            )
            for item in policies
            if match(item["metadata"].get("labels") or {})
        ]
    return found


def delete(cluster: Cluster, leftover: Leftover) -> bool:
    """Delete one leftover; False if it was already gone."""
    try:
        if leftover.kind == "namespace":
            cluster.call(
                f"DELETE namespace {leftover.name}", cluster.core.delete_namespace, leftover.name
            )
        else:
            resource = RESOURCES[leftover.kind]
            cluster.call(
                f"DELETE {leftover.kind} {leftover.name}",
                cluster.custom.delete_cluster_custom_object,
                resource.group,
                resource.version,
                resource.plural,
                leftover.name,
            )
    except ApiException as exc:
        if not_found(exc):
            return False
        raise BackendError(f"{leftover}: cannot delete: {describe(exc)}") from exc
    return True


def teardown(cluster: Cluster, key: str, clusterwide: bool) -> list[Leftover]:
    """Delete what deployment ``key`` created in ``cluster``; returns what was deleted."""
    try:
        found = find(cluster, f"{OWNER_LABEL}={key}", lambda _: True, clusterwide)
    except ApiException as exc:
        raise BackendError(
            f"{cluster.context}: cannot list {key}'s objects: {describe(exc)}"
        ) from exc
    return [leftover for leftover in found if delete(cluster, leftover)]


def run_matcher(run: str | None) -> Match:
    """Labels of one run's objects (``None``: of any run).

    Only the run-id label, matched exactly, says which run an object belongs to: the ownership
    label's value (``cm-<run>-<scenario>-<hash>``) cannot tell run ``pr-12`` from
    ``pr-12-retry``. Objects without a run-id label are cleaned up only without ``--run``.
    """
    if run is None:
        return lambda _: True
    wanted = label_value(run)
    return lambda labels: labels.get(RUN_LABEL) == wanted


def _run_of(labels: Mapping[str, str]) -> str:
    return labels.get(RUN_LABEL) or ""


def _timestamp(value: object) -> datetime | None:
    """A ``creationTimestamp`` as the client gives it (a datetime) or as JSON has it."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def parse_age(text: str) -> timedelta:
    """``90``, ``90s``, ``30m``, ``1h``, ``2d`` as a duration."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if found is None:
        raise argparse.ArgumentTypeError(f"not a duration (like 90s, 30m, 1h, 2d): {text!r}")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]
    return timedelta(seconds=float(found.group(1)) * unit)


def split_by_age(
    leftovers: Sequence[Leftover], min_age: timedelta, now: datetime
) -> tuple[list[Leftover], list[str]]:
    """The leftovers of runs whose every object is older than ``min_age``, and one line per
    skipped run saying why. A run with an object of unknown age is skipped. Objects without a
    run-id label are judged alone. Runs are judged per cluster (the command visits the
    clusters one by one), and a run's objects are created at about the same time in each."""
    by_run: dict[str, list[Leftover]] = {}
    for leftover in leftovers:
        key = leftover.run or f"{leftover.kind} {leftover.name} (no run-id label)"
        by_run.setdefault(key, []).append(leftover)
    old: list[Leftover] = []
    skipped: list[str] = []
    for run, items in by_run.items():
        if min_age <= timedelta(0):
            old += items
            continue
        created = [item.created for item in items]
        names = ", ".join(str(item) for item in items)
        if any(when is None for when in created):
            skipped.append(f"skipped run {run} ({names}): its age is unknown")
            continue
        newest = max(when for when in created if when is not None)
        age = now - newest
        if age < min_age:
            skipped.append(
                f"skipped run {run} ({names}): created {_duration(age)} ago, less than "
                f"--min-age {_duration(min_age)}; a concurrent job may be using it "
                f"({f'--run {run} or ' if items[0].run else ''}--min-age 0 deletes it)"
            )
            continue
        old += items
    return old, skipped


def _duration(value: timedelta) -> str:
    seconds = max(0, int(value.total_seconds()))
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def main(argv: Sequence[str] | None = None, now: Callable[[], datetime] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_clustermesh.kubernetes.cleanup",
        description=f"Delete namespaces and cluster-wide policies labelled {OWNER_LABEL}.",
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument("--contexts", required=True, help="comma-separated kubeconfig contexts")
    parser.add_argument(
        "--run",
        help="only this run id's objects, by exact run-id label (default: every run's that is "
        "older than --min-age)",
    )
    parser.add_argument(
        "--min-age",
        type=parse_age,
        help="delete only runs whose objects are all older than this, like 30m or 2h "
        "(default: 1h without --run, 0 with it); 0 deletes every run",
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be deleted")
    args = parser.parse_args(argv)
    settings = KubernetesSettings(api_attempts=3)
    match = run_matcher(args.run)
    min_age: timedelta = args.min_age
    if min_age is None:
        min_age = timedelta(0) if args.run else DEFAULT_MIN_AGE
    clock = now or (lambda: datetime.now(UTC))
    failed = False
    for context in [c.strip() for c in args.contexts.split(",") if c.strip()]:
        failed |= not _clean(
            context, args.kubeconfig, settings, match, args.dry_run, min_age, clock
        )
    return 1 if failed else 0


DEFAULT_MIN_AGE = timedelta(hours=1)


def _clean(
    context: str,
    kubeconfig: str | None,
    settings: KubernetesSettings,
    match: Match,
    dry_run: bool,
    min_age: timedelta,
    now: Callable[[], datetime],
) -> bool:
    try:
        cluster = Cluster(context, kubeconfig, settings)
    except BackendError as exc:
        print(exc, file=sys.stderr)
        return False
    try:
        found = find(cluster, OWNER_LABEL, match, clusterwide=True)
        leftovers, skipped = split_by_age(found, min_age, now())
        for line in skipped:
            print(f"{context}: {line}")
        if not leftovers:
            print(f"{context}: nothing to delete")
        for leftover in leftovers:
            if dry_run:
                print(f"would delete {leftover}")
            elif delete(cluster, leftover):
                print(f"deleted {leftover}")
        return True
    except (ApiException, BackendError) as exc:
        print(
            f"{context}: {describe(exc) if isinstance(exc, ApiException) else exc}", file=sys.stderr
        )
        return False
    except Exception as exc:  # unreachable cluster: one line, not a traceback
        print(f"{context}: cannot reach {cluster.server}: {describe(exc)}", file=sys.stderr)
        return False
    finally:
        cluster.close()


if __name__ == "__main__":
    sys.exit(main())
