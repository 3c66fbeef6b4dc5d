"""Table-driven tests of probes to the API server (``to: entity/kube-apiserver``).

Sources: Documentation/security/policy/language.rst "Entities based" and pkg/policy/api/entity.go
(the ``kube-apiserver`` entity, and ``cluster`` and ``all`` including it); cilium#17823 (the
``reserved:kube-apiserver`` label on the API server's addresses) and cilium#29432 (which other
labels an API server address carries depends on where it runs). docs/cilium-semantics.md s4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pytest_clustermesh.backend import ApiServerTarget, Probe
from pytest_clustermesh.verdicts import Outcome

from ..meshworld import ccnp, cnp, knp, mesh

ALLOWED, DROPPED, UNKNOWN = Outcome.ALLOWED, Outcome.DROPPED, Outcome.PROBE_ERROR
ALL_VERSIONS = ("1.16", "1.17", "1.18", "1.19", "1.20")
FE = {"matchLabels": {"app": "frontend"}}
ENTITY = "language.rst 'Entities based', entity.go"


def fe_egress(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return cnp({"endpointSelector": FE, "egress": list(rules), **extra})


def to_entities(*entities: str, **extra: Any) -> dict[str, Any]:
    return {"toEntities": list(entities), **extra}


PORT_6443 = {"toPorts": [{"ports": [{"port": "6443", "protocol": "TCP"}]}]}


@dataclass(frozen=True)
class Row:
    pins: str
    policies: list[dict[str, Any]]
    expected: Outcome
    port: int = 6443
    versions: tuple[str, ...] = ALL_VERSIONS


# fmt: off
ROWS = [
    Row("no policy selects the client: the API server is reachable",
        [], ALLOWED),
    Row("egress default deny without a rule for the API server drops it",
        [fe_egress({"toEndpoints": [{"matchLabels": {"app": "backend"}}]})], DROPPED),
    Row(f"toEntities kube-apiserver admits it ({ENTITY})",
        [fe_egress(to_entities("kube-apiserver"))], ALLOWED),
    Row("... on the API server's own port, which policy sees after the Service translates 443",
        [fe_egress(to_entities("kube-apiserver", **PORT_6443))], ALLOWED),
    Row("... and not on another port",
        [fe_egress(to_entities("kube-apiserver", **PORT_6443))], DROPPED, port=443),
    Row(f"the entity cluster includes kube-apiserver ({ENTITY})",
        [fe_egress(to_entities("cluster"))], ALLOWED),
    Row(f"the entity all includes it ({ENTITY})",
        [fe_egress(to_entities("all"))], ALLOWED),
    Row("the entity cluster-mesh includes it, as cluster does (1.20, #46813)",
        [fe_egress(to_entities("cluster-mesh"))], ALLOWED, versions=("1.20",)),
    Row("remote-node: whether the API server's address is a node's depends on where it runs, "
        "so the model cannot tell (cilium#29432)",
        [fe_egress(to_entities("remote-node"))], UNKNOWN),
    Row("world: the same when the API server runs outside the cluster (cilium#29432)",
        [fe_egress(to_entities("world"))], UNKNOWN),
    Row("a CIDR rule: its address is not known to the model",
        [fe_egress({"toCIDR": ["10.0.0.0/8"]})], UNKNOWN),
    Row("an entity the model can tell admits it even beside one it cannot",
        [fe_egress(to_entities("world"), to_entities("kube-apiserver"))], ALLOWED),
    Row("toEndpoints never selects it: it is no pod",
        [fe_egress({"toEndpoints": [{}]})], DROPPED),
    Row("a selector on the reserved label selects it",
        [fe_egress({"toEndpoints": [{"matchLabels": {"reserved:kube-apiserver": ""}}]})],
        ALLOWED),
    Row("egressDeny toEntities kube-apiserver wins over an allow (SF8)",
        [fe_egress(to_entities("all"), egressDeny=[to_entities("kube-apiserver")])], DROPPED),
    Row("a CCNP gives the same entity the same meaning",
        [ccnp({"endpointSelector": FE, "egress": [to_entities("kube-apiserver")]})], ALLOWED),
    Row("a Kubernetes NetworkPolicy egress with only pod peers drops it (its peers are pods "
        "and ipBlocks; no entity)",
        [knp({"podSelector": FE, "policyTypes": ["Egress"],
              "egress": [{"to": [{"podSelector": {}}]}]})], DROPPED),
]
# fmt: on


@pytest.mark.parametrize(
    ("row", "version"),
    [pytest.param(row, v, id=f"{row.pins} [{v}]") for row in ROWS for v in row.versions],
)
def test_probes_to_the_api_server(row: Row, version: str) -> None:
    sim, deployment = mesh(version, {}, {"c1": row.policies})
    result = sim.predict(deployment, Probe("c1", "fe", ApiServerTarget(), row.port))
    assert result.outcome is row.expected, result.detail


def test_an_unknown_names_why() -> None:
    sim, deployment = mesh("1.19", {}, {"c1": [fe_egress(to_entities("remote-node"))]})
    result = sim.predict(deployment, Probe("c1", "fe", ApiServerTarget(), 6443))
    assert "depends on where it runs" in result.detail
    assert any("ingress: none at entity/kube-apiserver" in line for line in result.explanation)


def test_a_drop_names_the_api_server() -> None:
    sim, deployment = mesh("1.19", {}, {"c1": [fe_egress({"toEndpoints": [{}]})]})
    result = sim.predict(deployment, Probe("c1", "fe", ApiServerTarget(), 6443))
    assert any(
        "default deny" in line and "no rule allows the kube-apiserver on 6443/TCP" in line
        for line in result.explanation
    ), result.explanation
