"""From a scenario to the concrete things a backend is handed: names, workloads, policies.

Names are run-unique (two CI jobs may share a mesh) and the same in every cluster (global
Services match by name and namespace); how they are formed, and the label that marks what a run
created, belong to the backend contract (:mod:`pytest_clustermesh.backend`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..backend import (
    Deployment,
    NamespaceSpec,
    PolicyDoc,
    PortSpec,
    ServiceSpec,
    WorkloadSpec,
    deployment_key,
    dns_name,
    ownership_labels,
)
from ..errors import Location
from ..facts import ClusterFacts
from ..policy.tiers import CLUSTERWIDE_KINDS
from .model import PolicySource, Scenario
from .templates import TemplateContext, render


def build_deployment(
    scenario: Scenario, run_id: str, binding: Mapping[str, str] | None = None
) -> Deployment:
    """The scenario's deployment, its clusters renamed through ``binding`` (logical ->
    backend cluster name; identity when ``None``)."""
    model = scenario.model
    bind = binding or {c: c for c in model.clusters}
    key = deployment_key(run_id, scenario.name, str(scenario.path))
    namespaces = tuple(
        NamespaceSpec(ns_key, dns_name(key, ns_key), dict(ns.labels))
        for ns_key, ns in model.namespaces.items()
    )
    by_key = {ns.key: ns.name for ns in namespaces}
    default_ns = namespaces[0].name
    workloads = []
    for name, spec in model.workloads.items():
        replicas = spec.replicas if isinstance(spec.replicas, int) else 1
        per_cluster = spec.replicas if isinstance(spec.replicas, dict) else {}
        workloads.append(
            WorkloadSpec(
                name=name,
                role=spec.role,
                namespace=by_key[spec.namespace] if spec.namespace else default_ns,
                labels=dict(spec.labels),
                clusters=tuple(bind[c] for c in spec.clusters or model.clusters),
                replicas=replicas,
                replicas_in={bind[c]: n for c, n in per_cluster.items()},
                service_account=spec.service_account,
                ports=tuple(PortSpec(p.port, p.protocol, p.name) for p in spec.port_list()),
                service=(
                    ServiceSpec(
                        spec.service.name,
                        dict(spec.service.annotations),
                        {bind[c]: dict(a) for c, a in spec.service.cluster_annotations.items()},
                    )
                    if spec.service
                    else None
                ),
                image=spec.image,
            )
        )
    return Deployment(key, tuple(bind[c] for c in model.clusters), namespaces, tuple(workloads))


def template_context(
    deployment: Deployment,
    facts: Mapping[str, ClusterFacts] | None,
    binding: Mapping[str, str] | None = None,
) -> TemplateContext:
    """Templates see logical cluster names; ``facts`` (keyed by backend cluster) give the
    Cilium names. Without facts (at collection) a cluster's name is its logical name."""
    names = {ns.key: ns.name for ns in deployment.namespaces}
    bind = binding or {c: c for c in deployment.clusters}
    if facts is None:
        clusters = dict(zip(bind, bind, strict=True))
    else:
        clusters = {logical: facts[real].cluster_name for logical, real in bind.items()}
    return TemplateContext(names, clusters)


def render_policy(
    raw: Mapping[str, Any],
    location: Location | None,
    deployment: Deployment,
    ctx: TemplateContext,
) -> PolicyDoc:
    """A rendered copy of one document: templates filled in, namespace and name settled.

    ``metadata.namespace`` may be omitted (the scenario's first namespace), a key of the
    scenario's namespaces, or a template. A cluster-wide policy's name gets the deployment key,
    since cluster-scoped names are shared by every run on the mesh.

    Raises ``TemplateError`` or ``ValueError`` for the caller to locate.
    """
    body: dict[str, Any] = render(copy.deepcopy(dict(raw)), ctx)
    kind = str(body.get("kind", ""))
    meta = body.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise ValueError("metadata must be a mapping")
    name = str(meta.get("name") or "")
    if not name:
        raise ValueError("metadata.name is required: the API server keeps a policy by its name")
    namespace: str | None
    if kind in CLUSTERWIDE_KINDS:
        if "namespace" in meta:
            raise ValueError(f"a {kind} has no metadata.namespace (it is cluster-wide)")
        name = dns_name(name, deployment.key, limit=253)
        namespace = None
    else:
        namespace = _namespace_of(meta.get("namespace"), deployment, ctx)
        meta["namespace"] = namespace
    meta["name"] = name
    labels = meta.setdefault("labels", {})
    if isinstance(labels, dict):
        labels.update(ownership_labels(deployment))
    return PolicyDoc(kind, name, namespace, body, location)


def _namespace_of(value: Any, deployment: Deployment, ctx: TemplateContext) -> str:
    real = {ns.name for ns in deployment.namespaces}
    if value is None:
        return next(iter(ctx.namespaces.values()))
    if value in ctx.namespaces:
        return ctx.namespaces[value]
    if value in real:
        return str(value)
    raise ValueError(
        f"metadata.namespace {value!r} is not a namespace of the scenario "
        f"({', '.join(ctx.namespaces)}); omit it or use one of those keys"
    )


def render_policies(
    source: PolicySource, deployment: Deployment, ctx: TemplateContext
) -> list[PolicyDoc]:
    return [
        render_policy(doc, location, deployment, ctx)
        for doc, location in zip(source.documents, source.locations, strict=True)
    ]
