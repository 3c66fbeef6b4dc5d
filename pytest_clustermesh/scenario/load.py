"""Load a scenario file: shape (pydantic), references, policies, then expansion into cases.

Every problem becomes a :class:`~pytest_clustermesh.errors.ScenarioError` naming the file and the
line, raised at collection so nothing runs against a mesh from a half-understood scenario.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..backend import (
    KUBE_APISERVER_PORT,
    PLACEHOLDER_RUN_ID,
    ApiServerTarget,
    DnsTarget,
    ExternalTarget,
    HttpRequest,
    PodTarget,
    Probe,
    ServiceTarget,
    Target,
)
from ..errors import Location, ScenarioError
from ..facts import MODELLED_RELEASES as RELEASES
from ..facts import Condition, ConditionError, parse_pins
from ..policy import ClusterContext, InvalidPolicy, parse_document
from ..verdicts import Verdict
from ..yamlmarks import line_of, load_all, load_one, source_text, walk_strings
from . import dsl, messages
from .materialize import build_deployment, render_policy, template_context
from .model import Case, PolicySource, Scenario, Step
from .policyfiles import PolicyFolders, PolicyPathError, looks_like_file
from .templates import TEMPLATE, TemplateError

ALL = "*"
EXTERNAL = "external/"
DNS = "dns/"
ENTITY = "entity/"


def load_scenario(path: Path, policy_roots: Sequence[Path] = ()) -> Scenario:
    """Read, validate and expand a scenario file.

    Its policy files must lie in its folder or under one of ``policy_roots``.
    """
    return _Loader(path, load_one(path), PolicyFolders(path.parent, policy_roots)).scenario()


def expand_scenario(data: Any, path: Path) -> Scenario:
    """Validate a scenario given as data and expand it into cases.

    ``path`` names it in messages and anchors its relative policy files; the ``mesh`` fixture
    passes the mappings a Python test wrote. Its policy files may lie anywhere: the test's own
    code could read any file anyway.
    """
    return _Loader(path, data, PolicyFolders(path.parent, confined=False)).scenario()


def resolve_sources(scenario: Scenario, text: str) -> list[tuple[str, str]]:
    """The (cluster, client workload) pairs a ``from:`` value such as ``*/frontend`` names."""
    return _Loader(scenario.path, {}).sources(scenario.model, text, ())


def resolve_targets(scenario: Scenario, text: str) -> list[tuple[Target, str]]:
    """The targets a ``to:`` value names (``cluster/workload``, ``service/<name>`` or
    ``external/<name>``), each with the server workload behind it (``""`` for an external
    destination, which has none)."""
    return _Loader(scenario.path, {}).targets(scenario.model, text, ())


class _Loader:
    def __init__(self, path: Path, data: Any, folders: PolicyFolders | None = None) -> None:
        self.path = path
        self.data = data
        self.folders = folders or PolicyFolders(path.parent)

    def error(self, message: str, *where: Any) -> ScenarioError:
        return ScenarioError(message, Location(self.path, line_of(self.data, where)))

    # -- shape -------------------------------------------------------------------------------

    def validate(self) -> dsl.ScenarioModel:
        if not isinstance(self.data, dict):
            raise self.error("a scenario is a mapping with clusters, workloads and steps")
        try:
            return dsl.ScenarioModel.model_validate(self.data)
        except ValidationError as exc:
            found = sorted(
                (line_of(self.data, p.path) or 0, p.message)
                for p in messages.problems(exc.errors(), self.data)
            )
            first_line = found[0][0] or None
            lines = [f"line {line}: {text}" if line else text for line, text in found]
            if len(found) == 1:
                raise ScenarioError(found[0][1], Location(self.path, first_line)) from None
            raise ScenarioError(
                "invalid scenario:\n  " + "\n  ".join(lines), Location(self.path, first_line)
            ) from None

    # -- the whole ---------------------------------------------------------------------------

    def scenario(self) -> Scenario:
        model = self.validate()
        name = model.name or self.path.name.split(".")[0]
        self.check_references(model)
        steps = tuple(self.step(model, index, step) for index, step in enumerate(model.steps))
        partial = Scenario(self.path, name, model, steps, ())
        policies = self.policies(model, steps, partial)
        cases = tuple(
            case
            for index, step in enumerate(model.steps)
            for case in self.cases(model, steps[index], step, index)
        )
        self.check_unique(cases)
        return Scenario(self.path, name, model, steps, cases, policies)

    def check_references(self, model: dsl.ScenarioModel) -> None:
        duplicates = {c for c in model.clusters if model.clusters.count(c) > 1}
        if duplicates:
            raise self.error(f"cluster {sorted(duplicates)[0]!r} is listed twice", "clusters")
        services: dict[str, str] = {}
        for name, workload in model.workloads.items():
            where = ("workloads", name)
            if workload.namespace and workload.namespace not in model.namespaces:
                raise self.error(
                    f"workload {name}: namespace {workload.namespace!r} is not defined "
                    f"(namespaces: {', '.join(model.namespaces)})",
                    *where,
                    "namespace",
                )
            for cluster in workload.clusters or ():
                self.known_cluster(model, cluster, *where, "clusters")
            if isinstance(workload.replicas, dict):
                for cluster in workload.replicas:
                    self.known_cluster(model, cluster, *where, "replicas", cluster)
            if workload.service:
                other = services.setdefault(workload.service.name, name)
                if other != name:
                    raise self.error(
                        f"Service {workload.service.name!r} is defined by {other} and {name}",
                        *where,
                        "service",
                    )

    def known_cluster(self, model: dsl.ScenarioModel, cluster: str, *where: Any) -> None:
        if cluster not in model.clusters:
            raise self.error(
                f"cluster {cluster!r} is not defined (clusters: {', '.join(model.clusters)})",
                *where,
            )

    def step(self, model: dsl.ScenarioModel, index: int, step: dsl.StepModel) -> Step:
        where = ("steps", index)
        names = [s.name for s in model.steps]
        if names.count(step.name) > 1:
            raise self.error(f"step name {step.name!r} is used twice", *where, "name")
        policies: dict[str, list[str]] = {c: [] for c in model.clusters}
        for cluster, refs in step.policies.items():
            targets = model.clusters if cluster == ALL else [cluster]
            if cluster != ALL:
                self.known_cluster(model, cluster, *where, "policies", cluster)
            for target in targets:
                policies[target] += [ref for ref in refs if ref not in policies[target]]
        return Step(
            index,
            step.name,
            {c: tuple(refs) for c, refs in policies.items()},
            line_of(self.data, where),
        )

    # -- policies ----------------------------------------------------------------------------

    def policies(
        self, model: dsl.ScenarioModel, steps: Sequence[Step], scenario: Scenario
    ) -> dict[str, PolicySource]:
        sources: dict[str, PolicySource] = {}
        for step in steps:
            for cluster, refs in step.policies.items():
                for ref in refs:
                    if ref not in sources:
                        where = self.ref_location(model, step, cluster, ref)
                        sources[ref] = self.policy_source(model, ref, where)
        for name in model.policies:
            if name not in sources:
                sources[name] = self.policy_source(model, name, ("policies", name))
        deployment = build_deployment(scenario, PLACEHOLDER_RUN_ID)
        ctx = template_context(deployment, None)
        # Every modelled release: a policy is an error here only when every release rejects
        # it; what one release rejects is that cluster's error when the step applies it
        # (the simulated mesh), or the real API server's and agent's call (a real mesh).
        # enable-node-selector-labels is unknown before a run: fromNodes is accepted here.
        check = [ClusterContext("cluster", v, True, node_selector_labels=True) for v in RELEASES]
        keys: dict[str, list[tuple[tuple[str, str | None, str], Any, Location]]] = {}
        for ref, source in sources.items():
            for doc, location in zip(source.documents, source.locations, strict=True):
                key = self.check_policy(doc, location, deployment, ctx, check)
                keys.setdefault(ref, []).append((key, doc, location))
        for step in steps:
            for cluster, refs in step.policies.items():
                self.check_unique_names(step, cluster, [k for ref in refs for k in keys[ref]])
        return sources

    @staticmethod
    def check_unique_names(
        step: Step,
        cluster: str,
        docs: Sequence[tuple[tuple[str, str | None, str], Any, Location]],
    ) -> None:
        """Two policies of one kind, namespace and name in one cluster: the API server keeps
        one object per name, so the second would replace the first (or be refused)."""
        seen: dict[tuple[str, str | None, str], Location] = {}
        for key, doc, location in docs:
            if key in seen:
                line = line_of(doc, ("metadata", "name"))
                kind, namespace, name = key
                where = "in the same namespace"
                if namespace is None:  # cluster-wide: the applied name carries the run's key
                    name, where = str(doc["metadata"]["name"]), "cluster-wide"
                raise ScenarioError(
                    f"step {step.name!r} applies two {kind} objects named {name!r} {where} to "
                    f"{cluster} (the other at {seen[key]}); one cluster holds one policy per name",
                    Location(location.path, line or location.line),
                )
            seen[key] = location

    def ref_location(
        self, model: dsl.ScenarioModel, step: Step, cluster: str, ref: str
    ) -> tuple[Any, ...]:
        raw = model.steps[step.index].policies
        key = cluster if cluster in raw and ref in raw[cluster] else ALL
        refs = raw.get(key, [])
        return ("steps", step.index, "policies", key, refs.index(ref) if ref in refs else 0)

    def policy_source(
        self, model: dsl.ScenarioModel, ref: str, where: Sequence[Any]
    ) -> PolicySource:
        named = model.policies.get(ref)
        if named is not None and named.inline is not None:
            raw = self.data["policies"][ref]["inline"]
            docs = raw if isinstance(raw, list) else [raw]
            line = line_of(self.data, ("policies", ref, "inline"))
            locations = tuple(
                Location(self.path, getattr(doc, "line", None) or line) for doc in docs
            )
            return PolicySource(ref, tuple(docs), locations)
        if named is None and not looks_like_file(ref) and not (self.path.parent / ref).exists():
            raise self.error(self.unknown_policy(model, ref), *where)
        file = named.file if named is not None and named.file else ref
        if named is not None:
            where = ("policies", ref, "file")
        try:
            path = self.folders.resolve(file)
        except PolicyPathError as exc:
            raise self.error(str(exc), *where) from None
        docs = load_all(path)
        if not docs:
            raise ScenarioError("the policy file holds no document", Location(path))
        return PolicySource(
            ref, tuple(docs), tuple(Location(path, getattr(doc, "line", None)) for doc in docs)
        )

    @staticmethod
    def unknown_policy(model: dsl.ScenarioModel, ref: str) -> str:
        names = list(model.policies)
        hint = difflib.get_close_matches(ref, names, n=1)
        suggestion = f"did you mean {hint[0]!r}? " if hint else ""
        defined = f"defined: {', '.join(names)}" if names else "the scenario defines none"
        return (
            f"policy {ref!r} is not defined under policies ({suggestion}{defined}); "
            "to name a file, give its path with its .yaml suffix"
        )

    def check_policy(
        self,
        doc: Any,
        location: Location,
        deployment: Any,
        ctx: Any,
        check: Sequence[ClusterContext],
    ) -> tuple[str, str | None, str]:
        """Check one document; its (kind, namespace, name) as applied."""

        def fail(message: str, path: Sequence[Any] = ()) -> ScenarioError:
            line = line_of(doc, path)
            return ScenarioError(message, Location(location.path, line or location.line))

        if not isinstance(doc, dict):
            raise fail("a policy document must be a mapping")
        try:
            rendered = render_policy(doc, location, deployment, ctx)
        except TemplateError as exc:
            raise fail(str(exc), self.template_path(doc, exc)) from None
        except ValueError as exc:
            raise fail(str(exc), ("metadata",)) from None
        first: InvalidPolicy | None = None
        for ctx_ in reversed(check):  # newest first: its message is the one reported
            try:
                parse_document(rendered.body, ctx_)
                return (rendered.kind, rendered.namespace, rendered.name)
            except InvalidPolicy as exc:
                first = first or exc
        assert first is not None, "at least one release is checked"
        raise fail(_policy_message(first), first.path)

    @staticmethod
    def template_path(doc: Any, exc: TemplateError) -> tuple[Any, ...]:
        """Where in ``doc`` the template that failed is written (a key or a value)."""
        for path, text in walk_strings(doc):
            if any(m.group(1) == exc.expr for m in TEMPLATE.finditer(text)):
                return path
        return ()

    # -- expectations ------------------------------------------------------------------------

    def cases(
        self, model: dsl.ScenarioModel, step: Step, raw: dsl.StepModel, index: int
    ) -> Iterator[Case]:
        """The step's cases: matrix cells first, each replaced by a pinned expectation of the
        same probe where there is one, then the other pinned expectations."""
        cells = {case.name: case for case in self.matrix_cases(model, step, raw, index)}
        pinned = []
        for case in self.expectation_cases(model, step, raw, index):
            if case.name in cells:
                cells[case.name] = case
            else:
                pinned.append(case)
        yield from cells.values()
        yield from pinned

    def matrix_cases(
        self, model: dsl.ScenarioModel, step: Step, raw: dsl.StepModel, index: int
    ) -> Iterator[Case]:
        matrix = raw.matrix
        if matrix is None:
            return
        where = ("steps", index, "matrix")
        line = line_of(self.data, where)
        sources = self.sources(model, matrix.source, where)
        targets = [matrix.to] if isinstance(matrix.to, str) else matrix.to
        for text in targets:
            for target, owner in self.targets(model, text, where):
                port, protocol = self.port(
                    model, owner, matrix.port, matrix.protocol, None, where, target
                )
                for cluster, source in sources:
                    probe = Probe(cluster, source, target, port, protocol)
                    yield Case(step, probe, None, line=line)

    def expectation_cases(
        self, model: dsl.ScenarioModel, step: Step, raw: dsl.StepModel, index: int
    ) -> Iterator[Case]:
        for number, expect in enumerate(raw.expect):
            where = ("steps", index, "expect", number)
            line = line_of(self.data, where)
            when = self.condition(expect, where)
            verdict = Verdict(expect.verdict)
            served = self.served_by(model, expect, verdict, where)
            sources = self.sources(model, expect.source, where)
            for target, owner in self.targets(model, expect.to, where):
                if served is not None and not isinstance(target, ServiceTarget):
                    raise self.error(
                        "served_by applies to service/<name> targets",
                        *where,
                        "served_by"
                        if isinstance(target, ExternalTarget | DnsTarget | ApiServerTarget)
                        else "to",
                    )
                port, protocol = self.port(
                    model, owner, expect.port, expect.protocol, expect.http, where, target
                )
                if served is not None and protocol != "TCP":
                    raise self.error(
                        f"served_by needs a TCP probe: over {protocol} the probe tools "
                        "(agnhost connect, ping) do not say which pod answered",
                        *where,
                        "served_by",
                    )
                for cluster, source in sources:
                    probe = Probe(
                        cluster,
                        source,
                        target,
                        port,
                        protocol,
                        HttpRequest(
                            expect.http.method,
                            expect.http.path,
                            expect.http.host,
                            tuple(expect.http.headers.items()),
                        )
                        if expect.http
                        else None,
                        verdict,
                    )
                    bound = when.for_probe(cluster, _cluster_of(target)) if when else None
                    yield Case(step, probe, verdict, served, bound, expect.xfail, line)

    def condition(self, expect: dsl.ExpectationModel, where: tuple[Any, ...]) -> Condition | None:
        """The expectation's ``when:``: facts of the whole mesh, and under a cluster's name or
        the role ``source``/``destination`` facts of that cluster only. A scenario's
        ``facts:`` (the mesh it is written for) holds for every expectation too."""
        data = self.data if isinstance(self.data, dict) else {}
        clusters = [c for c in data.get("clusters") or [] if isinstance(c, str)]
        try:
            pins = parse_pins(data.get("facts") or {}, clusters)
        except ConditionError as exc:
            raise self.error(f"facts: {exc}", "facts", *exc.path) from None
        if expect.when is None:
            return Condition().with_pins(pins) if pins else None
        paths = [
            (key, *((inner,) if isinstance(value, dict) else ()))
            for key, value in expect.when.items()
            for inner in (value if isinstance(value, dict) else [None])
        ]
        written = {
            ".".join(path): text
            for path in paths
            if (text := source_text(self.data, (*where, "when", *path))) is not None
        }
        try:
            if "destination" in expect.when:
                unbound = next(
                    (why for prefix, why in _NO_DESTINATION if expect.to.startswith(prefix)), None
                )
                if unbound is not None:
                    raise ConditionError(f"destination: {expect.to} {unbound}", None, "destination")
            return Condition.parse(expect.when, written, clusters).with_pins(pins)
        except ConditionError as exc:
            raise self.error(f"when: {exc}", *where, "when", *exc.path) from None

    def served_by(
        self,
        model: dsl.ScenarioModel,
        expect: dsl.ExpectationModel,
        verdict: Verdict,
        where: tuple[Any, ...],
    ) -> frozenset[str] | None:
        if expect.served_by is None:
            return None
        if verdict is not Verdict.ALLOW:
            raise self.error("served_by needs verdict: allow", *where, "served_by")
        clusters = [expect.served_by] if isinstance(expect.served_by, str) else expect.served_by
        for cluster in clusters:
            self.known_cluster(model, cluster, *where, "served_by")
        return frozenset(clusters)

    def sources(
        self, model: dsl.ScenarioModel, text: str, where: tuple[Any, ...]
    ) -> list[tuple[str, str]]:
        cluster, workload = self.split(model, text, (*where, "from"))
        found = []
        for name, spec in model.workloads.items():
            if workload not in (ALL, name):
                continue
            if spec.role != "client" and workload != ALL:
                raise self.error(
                    f"from: {name} is a server; probes start from client workloads",
                    *where,
                    "from",
                )
            if spec.role != "client":
                continue
            for c in spec.clusters or model.clusters:
                if cluster in (ALL, c):
                    found.append((c, name))
        if not found:
            raise self.error(f"from: {text!r} matches no client workload", *where, "from")
        return found

    def targets(
        self, model: dsl.ScenarioModel, text: str, where: tuple[Any, ...]
    ) -> list[tuple[Target, str]]:
        if text.startswith(ENTITY):
            entity = text.removeprefix(ENTITY)
            if entity != "kube-apiserver":
                raise self.error(
                    f"to: entity/{entity}: the only entity a probe can reach is "
                    "entity/kube-apiserver (host and remote-node need a host-network server, "
                    "world is an external/<name>)",
                    *where,
                    "to",
                )
            return [(ApiServerTarget(), "")]
        if text.startswith(DNS):
            name = text.removeprefix(DNS)
            if not dsl.HOSTNAME.match(name):
                raise self.error(
                    f"to: {name!r} is not a DNS name to query (labels of letters, digits and "
                    "'-' joined by '.')",
                    *where,
                    "to",
                )
            return [(DnsTarget(name), "")]
        if text.startswith(EXTERNAL):
            name = text.removeprefix(EXTERNAL)
            external = model.externals.get(name)
            if external is None:
                defined = ", ".join(model.externals) or "none; define them under externals"
                raise self.error(f"to: no external {name!r} (externals: {defined})", *where, "to")
            return [(ExternalTarget(name, external.address, external.hostname), "")]
        if text.startswith("service/"):
            service = text.removeprefix("service/")
            for name, spec in model.workloads.items():
                if spec.service and spec.service.name == service:
                    return [(ServiceTarget(service), name)]
            known = [s.service.name for s in model.workloads.values() if s.service]
            raise self.error(
                f"to: no workload has a Service {service!r} "
                f"(Services: {', '.join(known) or 'none'})",
                *where,
                "to",
            )
        cluster, workload = self.split(model, text, (*where, "to"))
        found: list[tuple[Target, str]] = []
        for name, spec in model.workloads.items():
            if workload not in (ALL, name):
                continue
            if spec.role != "server":
                if workload == ALL:
                    continue
                raise self.error(f"to: {name} is a client; targets are servers", *where, "to")
            for c in spec.clusters or model.clusters:
                if cluster in (ALL, c):
                    found.append((PodTarget(c, name), name))
        if not found:
            raise self.error(f"to: {text!r} matches no server workload", *where, "to")
        return found

    def split(self, model: dsl.ScenarioModel, text: str, where: tuple[Any, ...]) -> tuple[str, str]:
        cluster, sep, workload = text.partition("/")
        if not sep or not cluster or not workload:
            raise self.error(
                f"{text!r} is not cluster/workload (or service/<name>, external/<name>, "
                "dns/<name>, entity/kube-apiserver; `*` for any)",
                *where,
            )
        if cluster != ALL:
            self.known_cluster(model, cluster, *where)
        if workload != ALL and workload not in model.workloads:
            raise self.error(
                f"workload {workload!r} is not defined (workloads: {', '.join(model.workloads)})",
                *where,
            )
        if cluster != ALL and workload != ALL:
            spec = model.workloads[workload]
            if cluster not in (spec.clusters or model.clusters):
                raise self.error(f"workload {workload!r} does not run in {cluster}", *where)
        return cluster, workload

    def port(
        self,
        model: dsl.ScenarioModel,
        owner: str,
        port: int | None,
        protocol: str | None,
        http: dsl.HttpModel | None,
        where: tuple[Any, ...],
        target: Target | None = None,
    ) -> tuple[int, Any]:
        if isinstance(target, DnsTarget):
            return self.dns(port, protocol, http, where, target)
        if isinstance(target, ApiServerTarget):
            if protocol not in (None, "TCP"):
                raise self.error(f"to: {target} speaks TCP only", *where, "protocol")
            return port or KUBE_APISERVER_PORT, "TCP"
        if protocol == "ICMP":
            return self.icmp(port, http, where, target)
        if isinstance(target, ExternalTarget):
            if port is None:
                raise self.error(
                    f"to: {target} needs a port (an external destination has no server "
                    "workload to take one from), or protocol: ICMP",
                    *where,
                    "to",
                )
            protocol = protocol or "TCP"
            if http is not None and protocol != "TCP":
                raise self.error("http applies to TCP probes", *where, "http")
            return port, protocol
        ports = model.workloads[owner].port_list()
        port = port if port is not None else ports[0].port
        declared = next((p.protocol for p in ports if p.port == port), "TCP")
        protocol = protocol or declared
        if http is not None and protocol != "TCP":
            raise self.error("http applies to TCP probes", *where, "http")
        return port, protocol

    def dns(
        self,
        port: int | None,
        protocol: str | None,
        http: dsl.HttpModel | None,
        where: tuple[Any, ...],
        target: DnsTarget,
    ) -> tuple[int, Any]:
        """A DNS query: UDP 53 to the source cluster's kube-dns (docs/cilium-semantics.md s17)."""
        for key, given in (("port", port), ("protocol", protocol), ("http", http)):
            if given is not None:
                raise self.error(
                    f"to: {target} is a DNS query, which goes to kube-dns on UDP 53; leave "
                    f"{key} out",
                    *where,
                    key,
                )
        return 53, "UDP"

    def icmp(
        self,
        port: int | None,
        http: dsl.HttpModel | None,
        where: tuple[Any, ...],
        target: Target | None,
    ) -> tuple[int, Any]:
        """A ping: no port, no HTTP, and not of a Service (docs/cilium-semantics.md s16)."""
        if port is not None:
            raise self.error(
                "protocol: ICMP sends a ping (an echo request), which has no port; leave port out",
                *where,
                "port",
            )
        if http is not None:
            raise self.error("http applies to TCP probes, not ICMP", *where, "http")
        if isinstance(target, ServiceTarget):
            raise self.error(
                f"protocol: ICMP to {target}: Cilium's load balancer translates TCP, UDP and "
                "SCTP ports, not pings, so a ping of a Service address never reaches a "
                "backend and tests no policy; ping cluster/workload targets instead",
                *where,
                "protocol",
            )
        return 0, "ICMP"

    def check_unique(self, cases: Sequence[Case]) -> None:
        seen: dict[str, Case] = {}
        for case in cases:
            other = seen.setdefault(case.name, case)
            if other is not case:
                raise ScenarioError(
                    f"two expectations for {case.name} (the other at line {other.line}); "
                    "merge them or tell them apart with different when: conditions",
                    Location(self.path, case.line),
                )


_NO_DESTINATION = (
    (ENTITY, "is the source's own cluster's API server; use source: {...}"),
    (DNS, "is a query to the source's own cluster DNS; use source: {...}"),
    (EXTERNAL, "is outside the mesh and has no cluster; use source: {...} or a cluster's name"),
    (
        "service/",
        "is a Service, and which cluster serves it is not fixed; name the cluster "
        "(cluster1: {...}) or probe cluster/workload",
    ),
)
"""Targets with no destination cluster for a ``when: {destination: ...}``, and what to write."""


def _cluster_of(target: Target) -> str | None:
    """The cluster of a ``cluster/workload`` target; ``None`` for a Service or an external."""
    return target.cluster if isinstance(target, PodTarget) else None


def _policy_message(exc: InvalidPolicy) -> str:
    """``path: message``, without repeating the path when the message starts with it."""
    if not exc.path:
        return exc.message
    where = _dotted(exc.path)
    if exc.message.startswith(f"{where}."):
        return exc.message
    message = exc.message
    for prefix in (f"{where}: ", f"{exc.path[-1]}: "):
        message = message.removeprefix(prefix)
    return f"{where}: {message}"


def _dotted(path: Sequence[Any]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
