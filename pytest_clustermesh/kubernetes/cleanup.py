"""Removing what runs created: one deployment at teardown, or the leftovers of crashed runs.

Only objects carrying the ownership label are ever touched, found by label selector: a
namespace someone else created under the same name is left alone. Namespaced objects (pods,
Services, namespaced policies) go with their namespace; cluster-wide policies are deleted one by
one.

As a command::

    python -m pytest_clustermesh.kubernetes.cleanup --kubeconfig K --contexts a,b [--run RUN_ID]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException

from ..errors import BackendError
from ..policy.parse import CCNP
from ..scenario.materialize import OWNER_LABEL, dns_name
from .clients import Cluster, describe, not_found
from .manifests import RUN_LABEL
from .policies import CILIUM_GROUP, CILIUM_VERSION, PLURALS
from .settings import KubernetesSettings, label_value

Match = Callable[[Mapping[str, str]], bool]


@dataclass(frozen=True)
class Leftover:
    context: str
    kind: str
    """``namespace`` or ``CiliumClusterwideNetworkPolicy``."""
    name: str

    def __str__(self) -> str:
        return f"{self.context}: {self.kind} {self.name}"


def find(cluster: Cluster, selector: str, match: Match, clusterwide: bool) -> list[Leftover]:
    """Namespaces (and, if ``clusterwide``, CCNPs) selected by ``selector`` and ``match``."""
    namespaces = cluster.call(
        f"LIST namespaces -l {selector}", cluster.core.list_namespace, label_selector=selector
    ).items
    found = [
        Leftover(cluster.context, "namespace", ns.metadata.name)
        for ns in namespaces
        if match(ns.metadata.labels or {}) and ns.status.phase != "Terminating"
    ]
    if clusterwide:
        try:
            policies = cluster.call(
                f"LIST {CCNP} -l {selector}",
                cluster.custom.list_cluster_custom_object,
                CILIUM_GROUP,
                CILIUM_VERSION,
                PLURALS[CCNP],
                label_selector=selector,
            )
        except ApiException as exc:
            if not not_found(exc):  # no CRD: no policies
                raise
            policies = {}
        found += [
            Leftover(cluster.context, CCNP, item["metadata"]["name"])
            for item in policies.get("items", [])
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
            cluster.call(
                f"DELETE {CCNP} {leftover.name}",
                cluster.custom.delete_cluster_custom_object,
                CILIUM_GROUP,
                CILIUM_VERSION,
                PLURALS[CCNP],
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

    The run-id label is what this backend writes; the deployment-key prefix also catches
    objects whose run-id label is missing (created by hand or by another backend version).
    """
    if run is None:
        return lambda _: True
    wanted = label_value(run)
    prefix = dns_name("cm", run) + "-"
    return lambda labels: (
        labels.get(RUN_LABEL) == wanted or labels.get(OWNER_LABEL, "").startswith(prefix)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_clustermesh.kubernetes.cleanup",
        description=f"Delete namespaces and cluster-wide policies labelled {OWNER_LABEL}.",
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument("--contexts", required=True, help="comma-separated kubeconfig contexts")
    parser.add_argument("--run", help="only this run id's objects (default: every run's)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be deleted")
    args = parser.parse_args(argv)
    settings = KubernetesSettings(api_attempts=3)
    match = run_matcher(args.run)
    failed = False
    for context in [c.strip() for c in args.contexts.split(",") if c.strip()]:
        failed |= not _clean(context, args.kubeconfig, settings, match, args.dry_run)
    return 1 if failed else 0


def _clean(
    context: str, kubeconfig: str | None, settings: KubernetesSettings, match: Match, dry_run: bool
) -> bool:
    try:
        cluster = Cluster(context, kubeconfig, settings)
    except BackendError as exc:
        print(exc, file=sys.stderr)
        return False
    try:
        leftovers = find(cluster, OWNER_LABEL, match, clusterwide=True)
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
