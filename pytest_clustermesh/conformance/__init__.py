"""The bundled Cluster Mesh conformance suite: YAML scenarios that pin Cilium's documented
Cluster Mesh policy and Service guarantees, with expectations per Cilium version.

Run it with ``pytest --pyargs pytest_clustermesh.conformance --kube-contexts=a,b[,c]`` on real
clusters, or ``--mesh-backend=simulated`` on the model. docs/conformance.md lists every check,
its source, the versions it applies to, and what a failure usually means.
"""

from __future__ import annotations

from pathlib import Path

from ..policy.tiers import CLUSTERWIDE_KINDS
from ..scenario import Case, Scenario

SUITE_DIR = Path(__file__).resolve().parent
"""Where the suite's scenario and policy files are installed."""


def scenario_files() -> list[Path]:
    """The suite's scenario files, in the order pytest collects them."""
    return sorted(SUITE_DIR.glob("*.scenario.yaml"))


def clusterwide_policies(scenario: Scenario, case: Case) -> list[str]:
    """The policy references of the case's step that hold a CiliumClusterwideNetworkPolicy
    (the steps the suite skips on real clusters without --allow-clusterwide-policies)."""
    refs = dict.fromkeys(ref for refs in case.step.policies.values() for ref in refs)
    return [
        ref
        for ref in refs
        if any(doc.get("kind") in CLUSTERWIDE_KINDS for doc in scenario.policies[ref].documents)
    ]


__all__ = ["SUITE_DIR", "clusterwide_policies", "scenario_files"]
