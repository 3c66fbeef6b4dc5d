"""The conformance suite's own rules: what it skips, and why.

- **Cluster-wide policies run on real clusters only on request.** A
  CiliumClusterwideNetworkPolicy can select pods of every namespace, so on a shared mesh the
  Kubernetes backend applies one only with ``--allow-clusterwide-policies`` (ini:
  ``clustermesh_allow_clusterwide_policies = true``), and a scenario that applies one without it
  fails. In this suite such steps are skipped instead, with that reason, so the suite's one
  command passes on any mesh and says what it left out. The simulated mesh always runs them.
- **The suite checks a mesh that enforces policy as Cilium does by default**
  (``enable-policy=default``, ``policy-audit-mode=false``; docs/cilium-semantics.md s3). Its
  expectations assume that an endpoint no policy selects is open and that a drop is a drop; on
  a cluster in another enforcement mode or in audit mode every item is skipped, naming the
  cluster and the option, instead of failing for a reason that is not Cluster Mesh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from ..collect import ScenarioItem
from ..errors import UsageError
from ..facts import ENABLE_POLICY, POLICY_AUDIT_MODE, ClusterFacts
from ..runner import MeshSession
from ..session import CHOICE_KEY
from . import SUITE_DIR, clusterwide_policies

CLUSTERWIDE_SKIP = (
    "applies a CiliumClusterwideNetworkPolicy ({policies}), which selects pods of every "
    "namespace of a cluster: pass {option} (ini: clustermesh_allow_clusterwide_policies = true) "
    "to run it on real clusters"
)


def clusterwide_allowed(config: pytest.Config) -> bool:
    """Whether this run may apply cluster-wide policies: always on the simulated mesh."""
    if config.stash[CHOICE_KEY].backend != "kubernetes":
        return True
    from ..kubernetes.options import settings_from_config

    return settings_from_config(config, "conformance").allow_clusterwide


def suite_items(items: Iterable[pytest.Item]) -> list[ScenarioItem]:
    return [
        item
        for item in items
        if isinstance(item, ScenarioItem) and item.path.resolve().is_relative_to(SUITE_DIR)
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if clusterwide_allowed(config):
        return
    from ..kubernetes.policies import CLUSTERWIDE_OPTION

    for item in suite_items(items):
        refs = clusterwide_policies(item.scenario, item.case)
        if refs:
            reason = CLUSTERWIDE_SKIP.format(policies=", ".join(refs), option=CLUSTERWIDE_OPTION)
            item.add_marker(pytest.mark.skip(reason=f"step {item.case.step.name} {reason}"))


def unusual_modes(facts: Mapping[str, ClusterFacts]) -> list[str]:
    """The clusters whose agents do not enforce policy as the suite assumes, and how."""
    found = []
    for name, cluster in sorted(facts.items()):
        if cluster.enforcement_mode != "default":
            found.append(f"{name} runs {ENABLE_POLICY}={cluster.enforcement_mode}")
        if cluster.audit_mode:
            found.append(f"{name} runs {POLICY_AUDIT_MODE}=true")
    return found


@pytest.fixture(autouse=True)
def conformance_enforcing_mesh(
    request: pytest.FixtureRequest, clustermesh_session: MeshSession
) -> None:
    """Skip a suite item on a mesh that does not enforce policy the default way."""
    item = request.node
    if not isinstance(item, ScenarioItem):
        return
    facts = clustermesh_session.backend.facts()
    try:  # the scenario's clusters, by logical name (the simulated mesh makes them now)
        binding = clustermesh_session.binder(item.scenario.model.clusters)
        mesh = {logical: facts[real] for logical, real in binding.items()}
    except UsageError:  # too few contexts: the item skips itself with that reason
        return
    unusual = unusual_modes(mesh)
    if unusual:
        pytest.skip(
            f"the conformance suite checks meshes with {ENABLE_POLICY}=default and "
            f"{POLICY_AUDIT_MODE}=false (docs/cilium-semantics.md s3): {'; '.join(unusual)}"
        )
