"""The simulated mesh: the policy model behind the backend interface.

It is the default a new user runs first, a dry run for policies, and the oracle that says what a
real mesh should do. No pytest, no Kubernetes client: state lives in dicts and every verdict is
computed by :mod:`pytest_clustermesh.policy` with the reasons that decided it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .backend import (
    ApiServerTarget,
    Deployment,
    DnsTarget,
    ExternalTarget,
    HttpRequest,
    PodTarget,
    PolicyDoc,
    Probe,
    ServiceTarget,
    WorkloadSpec,
)
from .errors import BackendError, PolicyError
from .facts import ClusterFacts, mesh_is_mixed, parse_version, resolve_options
from .policy import ClusterContext, ClusterPolicy, Flow, InvalidPolicy, decide_flow, parse_document
from .policy.decide import Decision, decide_direction, icmp_flow, peer_text
from .policy.labels import (
    KUBE_DNS_LABELS,
    KUBE_DNS_NAMESPACE,
    LOOKUP_PROXIED,
    LOOKUP_RESOLVED,
    Identity,
    external_identity,
    kube_apiserver_identity,
    kube_dns_identity,
    pod_identity,
)
from .policy.pairs import Endpoint, prediction_table
from .policy.rules import Rule, unreadable_rule
from .policy.services import ServiceView, reachable_clusters
from .verdicts import MODEL_EVIDENCE, Outcome, ProbeResult


def simulated_facts(
    clusters: Sequence[str], version: str, options: Mapping[str, str] | None = None
) -> dict[str, ClusterFacts]:
    """Facts for a simulated mesh: every cluster on ``version`` with ``options``; Cilium
    cluster names equal the logical names and ids count from 1."""
    parsed = parse_version(version)
    return {
        name: ClusterFacts(name, name, index, parsed, resolve_options(parsed, options or {}))
        for index, name in enumerate(clusters, start=1)
    }


@dataclass(frozen=True)
class _Pod:
    name: str
    cluster: str
    workload: WorkloadSpec
    identity: Identity


class SimulatedMesh:
    """An in-process mesh implementing :class:`~pytest_clustermesh.backend.MeshBackend`."""

    name = "simulated"

    def __init__(self, facts: Mapping[str, ClusterFacts], *, advisory: bool = False) -> None:
        # Kept as given: a mapping that creates clusters on first use stays lazy.
        self._facts = facts if isinstance(facts, dict) else dict(facts)
        self.advisory = advisory
        """The oracle of a real mesh: a policy the model rejects does not stop the run (the
        real API server and agents decide); the verdicts it could change become unknown."""
        self._deployments: dict[str, Deployment] = {}
        self._policies: dict[tuple[str, str], tuple[PolicyDoc, ...]] = {}
        self._cluster_policy: dict[str, ClusterPolicy] = {}
        self._pods: dict[tuple[str, str, str], _Pod | None] = {}
        """(deployment key, cluster, workload) -> its first pod, identity computed once."""

    # -- MeshBackend ---------------------------------------------------------------------------

    def facts(self) -> Mapping[str, ClusterFacts]:
        return self._facts

    def deploy(self, deployment: Deployment) -> None:
        for cluster in deployment.clusters:
            self._cluster(cluster)
        self._forget_pods(deployment)
        self._deployments[deployment.key] = deployment

    def set_policies(
        self, deployment: Deployment, cluster: str, policies: Sequence[PolicyDoc]
    ) -> None:
        facts = self._cluster(cluster)
        for doc in policies:
            self._parse(doc, facts)  # reject before anything changes, as an API server would
        self._policies[(deployment.key, cluster)] = tuple(policies)
        self._cluster_policy.pop(cluster, None)

    def probe(self, deployment: Deployment, probes: Sequence[Probe]) -> list[ProbeResult]:
        return self.predict_all(deployment, probes)

    def teardown(self, deployment: Deployment) -> None:
        self._deployments.pop(deployment.key, None)
        self._forget_pods(deployment)
        for key in [k for k in self._policies if k[0] == deployment.key]:
            del self._policies[key]
            self._cluster_policy.pop(key[1], None)

    def close(self) -> None:
        self._deployments.clear()
        self._policies.clear()
        self._cluster_policy.clear()
        self._pods.clear()

    # -- the model -------------------------------------------------------------------------------

    def lookup(
        self, deployment: Deployment, cluster: str, client: str, hostname: str
    ) -> str | None:
        """How ``client`` in ``cluster`` resolves ``hostname``: ``proxied`` (Cilium's DNS proxy
        saw the answer, so ``toFQDNs`` learns the address), ``resolved`` (answered without the
        proxy), or ``None`` when it does not resolve or the model cannot tell."""
        source = self._first_pod(deployment, cluster, client)
        if source is None:
            return None
        found = self._lookup(
            source, ExternalTarget(hostname, hostname=hostname), self._policy_of(cluster)
        )
        return None if isinstance(found, ProbeResult) else found[0]

    def predict(self, deployment: Deployment, probe: Probe) -> ProbeResult:
        """What Cilium would do with ``probe``, with the reasons."""
        return self.predict_all(deployment, [probe])[0]

    def predict_all(self, deployment: Deployment, probes: Sequence[Probe]) -> list[ProbeResult]:
        """What Cilium would do with each probe, with the reasons, in order.

        Pod-to-pod probes are decided through the identity-pair table (:mod:`.policy.pairs`),
        one table per flow: Cilium decides per security identity, so a step of N x M cells
        costs its distinct identity pairs, not its cells.
        """
        results: list[ProbeResult | None] = [None] * len(probes)
        by_flow: dict[Flow, list[tuple[int, _Pod, _Pod]]] = {}
        for position, probe in enumerate(probes):
            source = self._first_pod(deployment, probe.source_cluster, probe.source)
            if source is None:
                results[position] = _error(
                    f"no pod of {probe.source} runs in {probe.source_cluster}"
                )
            elif isinstance(probe.target, PodTarget):
                target = self._first_pod(deployment, probe.target.cluster, probe.target.workload)
                if target is None:
                    results[position] = _error(
                        f"no pod of {probe.target} runs (replicas 0 or not deployed there)"
                    )
                else:
                    flow = _flow(probe, target, deployment)
                    by_flow.setdefault(flow, []).append((position, source, target))
            elif isinstance(probe.target, ExternalTarget):
                results[position] = self._to_external(source, probe.target, probe)
            elif isinstance(probe.target, DnsTarget):
                results[position] = self._dns_query(source, probe.target)
            elif isinstance(probe.target, ApiServerTarget):
                results[position] = self._to_apiserver(source, probe)
            else:
                results[position] = self._to_service(deployment, source, probe.target, probe)
        for flow, cells in by_flow.items():
            pods = {pod.name: pod for _, source, target in cells for pod in (source, target)}
            table = prediction_table(
                {pod.cluster: self._policy_of(pod.cluster) for pod in pods.values()},
                [Endpoint(pod.name, pod.cluster, pod.identity) for pod in pods.values()],
                flow,
            )
            for position, source, target in cells:
                # The outcome from the table; the reasons are the same decision's, built once
                # per identity pair (PolicyIndex caches them) and shared by its cells.
                explained = table.explain(source.name, target.name)
                decision = Decision(
                    table.outcome(source.name, target.name),
                    explained.reasons,
                    explained.unknowns,
                )
                results[position] = self._to_pod(source, target, probes[position], (), decision)
        done = [result for result in results if result is not None]
        assert len(done) == len(probes), "every probe gets a prediction"
        return done

    def _to_service(
        self, deployment: Deployment, source: _Pod, target: ServiceTarget, probe: Probe
    ) -> ProbeResult:
        if probe.protocol == "ICMP":
            # Cilium's load balancer translates ports; a ping of a Service address never
            # reaches a backend, so it says nothing about policy (docs/cilium-semantics.md s16).
            return _error(
                f"a ping of {target} does not reach a backend: Cilium load-balances TCP, UDP "
                "and SCTP ports, not ICMP; ping a cluster/workload instead"
            )
        try:
            owner = deployment.service_owner(target.name)
        except KeyError:
            return _error(f"the deployment has no Service {target.name}")
        if source.cluster not in owner.clusters or owner.service is None:
            return ProbeResult(
                Outcome.DNS_FAILURE,
                detail=f"Service {target.name} does not exist in {source.cluster}",
            )
        views = {
            cluster: ServiceView(
                cluster, owner.service.annotations_at(cluster), owner.replicas_at(cluster)
            )
            for cluster in owner.clusters
        }
        local = views.pop(source.cluster)
        clusters, why = reachable_clusters(local, list(views.values()))
        notes = tuple(f"service {target.name}: {reason}" for reason in why)
        if not clusters:
            # Cilium's socket LB answers a Service without backends with ECONNREFUSED.
            return ProbeResult(Outcome.REFUSED, detail="no backends", explanation=notes)
        results = []
        for cluster in clusters:
            pod = self._first_pod(deployment, cluster, owner.name)
            assert pod is not None  # a cluster with healthy backends has pods
            results.append(self._to_pod(source, pod, probe, notes, deployment=deployment))
        outcomes = {result.outcome for result in results}
        if len(outcomes) > 1:
            split = ", ".join(f"{r.served_pod}: {r.outcome.value}" for r in results)
            return ProbeResult(
                Outcome.PROBE_ERROR,
                detail=f"the verdict depends on which backend the load balancer picks ({split})",
                explanation=tuple(line for r in results for line in r.explanation),
            )
        served = frozenset(c for r in results for c in r.served_by)
        first = results[0]
        return ProbeResult(
            first.outcome,
            served_by=served,
            served_pod=first.served_pod,
            detail=first.detail,
            explanation=tuple(dict.fromkeys(line for r in results for line in r.explanation)),
            evidence=first.evidence,
        )

    def _to_external(self, source: _Pod, target: ExternalTarget, probe: Probe) -> ProbeResult:
        """A probe to a destination outside the mesh (docs/cilium-semantics.md s17).

        By name: first the lookup through the source cluster's kube-dns (egress at the source
        and ingress at kube-dns, UDP 53, DNS rules deciding the name), which tells whether
        Cilium's DNS proxy saw the answer (``toFQDNs`` needs that). Then the connection: the
        source's egress only; the destination is no Cilium endpoint, so nothing enforces
        ingress there."""
        policy = self._policy_of(source.cluster)
        lookup: str | None = None
        notes: tuple[str, ...] = ()
        if target.hostname is not None:
            found = self._lookup(source, target, policy)
            if isinstance(found, ProbeResult):
                return found
            lookup, notes = found
        identity = external_identity(target.address, target.hostname, lookup)
        flow = _external_flow(probe)
        decision = decide_direction(policy, "egress", source.identity, identity, flow)
        reasons = (
            *notes,
            *decision.reasons,
            f"ingress: none at {target}, which is outside the mesh (no Cilium endpoint)",
        )
        detail = f"{source.name} -> {target} ({peer_text(identity)}): {decision.outcome.value}"
        return _decided(decision, detail, reasons)

    def _query(
        self, source: _Pod, name: str, policy: ClusterPolicy
    ) -> tuple[Identity, Flow, Decision, tuple[str, ...]]:
        """The source's DNS query for ``name`` to its cluster's kube-dns pods: the DNS pods'
        identity, the flow, the model's decision and its reasons."""
        dns = kube_dns_identity(self._cluster(source.cluster).cluster_name)
        # CoreDNS serves on UDP 53 in a container port named "dns"; policy applies to the
        # backend after the kube-dns Service is translated (language.rst, DNS based).
        flow = Flow(53, "UDP", port_name="dns", dns_name=name)
        decision = decide_flow(policy, source.identity, policy, dns, flow)
        reasons = tuple(f"lookup of {name}: {reason}" for reason in decision.reasons)
        return dns, flow, decision, reasons

    def _to_apiserver(self, source: _Pod, probe: Probe) -> ProbeResult:
        """A probe to the source cluster's API server: the source's egress decides; the API
        server is no Cilium endpoint, so nothing the model knows enforces ingress there (host
        policies are not modelled; docs/cilium-semantics.md s4)."""
        policy = self._policy_of(source.cluster)
        flow = Flow(probe.port, probe.protocol)
        decision = decide_direction(
            policy, "egress", source.identity, kube_apiserver_identity(), flow
        )
        reasons = (
            *decision.reasons,
            f"ingress: none at {probe.target}, which is no Cilium endpoint",
        )
        detail = f"{source.name} -> the API server of {source.cluster}: {decision.outcome.value}"
        return _decided(decision, detail, reasons)

    def _dns_query(self, source: _Pod, target: DnsTarget) -> ProbeResult:
        """A DNS probe: the query itself is the flow. Allowed when an answer comes (whatever
        it says), l7-denied when Cilium's DNS proxy answers REFUSED, dropped when the query
        is dropped (language.rst, "DNS Policy and IP Discovery"; docs/cilium-semantics.md
        s17)."""
        _, _, decision, reasons = self._query(source, target.name, self._policy_of(source.cluster))
        what = {
            Outcome.ALLOWED: "answered",
            Outcome.L7_DENIED: "refused by Cilium's DNS proxy (REFUSED)",
            Outcome.DROPPED: "dropped",
        }.get(decision.outcome, "")
        detail = f"{source.name} -> kube-dns of {source.cluster}: query for {target.name} {what}"
        return _decided(decision, detail, reasons)

    def _lookup(
        self, source: _Pod, target: ExternalTarget, policy: ClusterPolicy
    ) -> ProbeResult | tuple[str, tuple[str, ...]]:
        """The source's DNS query for ``target``'s name to its cluster's kube-dns pods: how
        it was resolved (through Cilium's DNS proxy or not) with the reasons, or the result
        of a probe that cannot get past it (a DNS failure, or unknown)."""
        name = target.hostname
        assert name is not None
        dns, flow, decision, reasons = self._query(source, name, policy)
        where = f"kube-dns ({KUBE_DNS_NAMESPACE}, k8s-app={KUBE_DNS_LABELS['k8s-app']})"
        if decision.outcome is Outcome.PROBE_ERROR:
            unknown = "; ".join(decision.unknowns)
            return ProbeResult(
                Outcome.PROBE_ERROR,
                detail=f"the model cannot tell whether {name} resolves: {unknown}",
                explanation=reasons,
            )
        if decision.outcome is not Outcome.ALLOWED:
            why, fix = (
                (f"the DNS proxy refuses the query for {name}", "a DNS rule must let it through")
                if decision.outcome is Outcome.L7_DENIED
                else (
                    f"the DNS query from {source.name} to {where} on UDP 53 is dropped",
                    "allow DNS to kube-dns for it",
                )
            )
            return ProbeResult(
                Outcome.DNS_FAILURE,
                detail=(
                    f"{name} did not resolve: {why}; the probe cannot test the policy toward "
                    f"{target} ({fix})"
                ),
                explanation=reasons,
            )
        proxied = policy.index.dns_proxied(source.identity, dns, flow)
        how = (
            "answered through Cilium's DNS proxy, which learns the address for toFQDNs"
            if proxied
            else "answered without Cilium's DNS proxy (no DNS rule covers the query)"
        )
        return (
            LOOKUP_PROXIED if proxied else LOOKUP_RESOLVED,
            (*reasons, f"lookup of {name}: {how}"),
        )

    def _to_pod(
        self,
        source: _Pod,
        target: _Pod,
        probe: Probe,
        notes: tuple[str, ...],
        decision: Decision | None = None,
        deployment: Deployment | None = None,
    ) -> ProbeResult:
        if decision is None:
            decision = decide_flow(
                self._policy_of(source.cluster),
                source.identity,
                self._policy_of(target.cluster),
                target.identity,
                _flow(probe, target, deployment),
            )
        reasons = (*notes, *decision.reasons)
        outcome = decision.outcome
        if outcome is Outcome.PROBE_ERROR:
            return _decided(decision, "", reasons)
        # A pod's kernel answers a ping whatever listens; a port answers only if served.
        listening = probe.protocol == "ICMP" or any(
            p.port == probe.port and p.protocol == probe.protocol for p in target.workload.ports
        )
        if outcome is Outcome.ALLOWED and not listening:
            outcome = Outcome.REFUSED
            reasons = (*reasons, f"{target.name} does not listen on {probe.port}/{probe.protocol}")
        served = frozenset({target.cluster}) if outcome is Outcome.ALLOWED else frozenset()
        return ProbeResult(
            outcome,
            served_by=served,
            served_pod=target.name if outcome is Outcome.ALLOWED else None,
            detail=f"{source.name} -> {target.name}: {outcome.value}",
            explanation=reasons,
            evidence=MODEL_EVIDENCE if outcome is Outcome.DROPPED else None,
        )

    def _first_pod(self, deployment: Deployment, cluster: str, workload: str) -> _Pod | None:
        key = (deployment.key, cluster, workload)
        if key not in self._pods:
            self._pods[key] = self._make_pod(deployment, cluster, workload)
        return self._pods[key]

    def _forget_pods(self, deployment: Deployment) -> None:
        for key in [key for key in self._pods if key[0] == deployment.key]:
            del self._pods[key]

    def _make_pod(self, deployment: Deployment, cluster: str, workload: str) -> _Pod | None:
        try:
            spec = deployment.workload(workload)
        except KeyError:
            return None
        if spec.replicas_at(cluster) < 1:
            return None
        namespace = next(ns for ns in deployment.namespaces if ns.name == spec.namespace)
        identity = pod_identity(
            spec.labels,
            spec.namespace,
            namespace.labels,
            spec.service_account,
            self._cluster(cluster).cluster_name,
        )
        return _Pod(f"{workload}-{cluster}-0", cluster, spec, identity)

    def _policy_of(self, cluster: str) -> ClusterPolicy:
        cached = self._cluster_policy.get(cluster)
        if cached is None:
            facts = self._cluster(cluster)
            rules = tuple(
                rule
                for (_, where), docs in sorted(self._policies.items())
                if where == cluster
                for doc in docs
                for rule in self._parse(doc, facts)
            )
            cached = ClusterPolicy(
                facts.cluster_name,
                rules,
                facts.enforcement_mode,
                facts.audit_mode,
                facts.setting if mesh_is_mixed(self._facts) else "",
            )
            self._cluster_policy[cluster] = cached
        return cached

    def _parse(self, doc: PolicyDoc, facts: ClusterFacts) -> list[Rule]:
        ctx = ClusterContext(
            facts.cluster_name,
            facts.cilium_version,
            facts.default_local_cluster,
            cluster_network_policy=facts.cluster_network_policy,
        )
        try:
            return parse_document(doc.body, ctx)
        except InvalidPolicy as exc:
            where = ".".join(map(str, exc.path))
            message = f"{where + ': ' if where else ''}{exc.message}"
            if self.advisory:
                return [unreadable_rule(doc.ref, f"the model rejects it ({message})")]
            raise PolicyError(f"{facts.logical} rejects {doc.ref}: {message}") from exc

    def _cluster(self, cluster: str) -> ClusterFacts:
        try:
            return self._facts[cluster]
        except KeyError:
            raise BackendError(
                f"the mesh has no cluster {cluster!r} (it has {', '.join(self._facts)})"
            ) from None


def _flow(probe: Probe, target: _Pod, deployment: Deployment | None) -> Flow:
    """The flow of ``probe`` to ``target``: with the name its container port has (named ports
    in policies resolve to it) and the names that stand for several numbers in the mesh."""
    if probe.protocol == "ICMP":
        return icmp_flow()
    http = probe.http or HttpRequest()
    method, path = http.method, http.path
    wanted = (probe.port, probe.protocol)
    name = next((p.name for p in target.workload.ports if (p.port, p.protocol) == wanted), None)
    return Flow(
        probe.port,
        probe.protocol,
        method,
        path,
        port_name=name,
        ambiguous=_ambiguous_names(deployment),
        host=http.host,
        headers=http.headers,
    )


def _external_flow(probe: Probe) -> Flow:
    if probe.protocol == "ICMP":
        return icmp_flow()
    http = probe.http or HttpRequest()
    return Flow(
        probe.port,
        probe.protocol,
        http.method,
        http.path,
        host=http.host,
        headers=http.headers,
    )


def _ambiguous_names(deployment: Deployment | None) -> frozenset[str]:
    numbers: dict[str, set[tuple[int, str]]] = {}
    for workload in deployment.workloads if deployment else ():
        for port in workload.ports:
            if port.name:
                numbers.setdefault(port.name, set()).add((port.port, port.protocol))
    return frozenset(name for name, found in numbers.items() if len(found) > 1)


def _decided(decision: Decision, detail: str, reasons: tuple[str, ...]) -> ProbeResult:
    """The prediction a decision makes: unknown with the reasons that make it so, or its
    outcome, a drop carrying the model as its evidence."""
    if decision.outcome is Outcome.PROBE_ERROR:
        unknown = "; ".join(decision.unknowns) or "a feature it does not cover"
        return ProbeResult(
            Outcome.PROBE_ERROR, detail=f"the model cannot tell: {unknown}", explanation=reasons
        )
    evidence = MODEL_EVIDENCE if decision.outcome is Outcome.DROPPED else None
    return ProbeResult(decision.outcome, detail=detail, explanation=reasons, evidence=evidence)


def _error(detail: str) -> ProbeResult:
    return ProbeResult(Outcome.PROBE_ERROR, detail=detail)
