"""Policy documents into :class:`~.rules.Rule` objects for one cluster.

Strict like the CRD schemas (an unknown field is an error), and explicit about what the model
does not cover: ``toFQDNs`` and friends never match a pod, and a feature it cannot evaluate
(a named port, DNS, Kafka or HTTP header rules, ``fromRequires``) is kept in the rule as
*unknown*, so the verdicts it decides are unknown with the feature named, while the rest of the
policy is modelled (the model advises; it never refuses a policy Cilium accepts). The
cluster-specific parts of import follow ``getEndpointSelector``/``ParseToCiliumRule`` and
``addClusterFilterByDefault`` (pkg/k8s/apis/cilium.io/utils/utils.go; docs/cilium-semantics.md
s1, s2).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from packaging.version import Version

from .labels import (
    CLUSTER,
    NAMESPACE,
    NAMESPACE_LABELS,
    SOURCE_K8S,
    SOURCE_RESERVED,
    Requirement,
    Selector,
    requirement,
)
from .rules import (
    ALL_PROTOCOLS,
    KNOWN_ENTITIES,
    L4,
    Direction,
    Entry,
    HttpRule,
    Peer,
    PortRule,
    Rule,
)
from .validate import ValidationProblem, prune_nulls, validate

CNP = "CiliumNetworkPolicy"
CCNP = "CiliumClusterwideNetworkPolicy"
KNP = "NetworkPolicy"
API_VERSIONS = {CNP: "cilium.io/v2", CCNP: "cilium.io/v2", KNP: "networking.k8s.io/v1"}

Path = tuple[str | int, ...]


class InvalidPolicy(Exception):
    """A policy document the model rejects; ``path`` points into the document."""

    def __init__(self, message: str, path: Path = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


@dataclass(frozen=True)
class ClusterContext:
    """What of a cluster changes how a policy is imported."""

    cluster_name: str
    version: Version
    default_local_cluster: bool
    node_selector_labels: bool = False
    """``enable-node-selector-labels``: whether ``fromNodes``/``toNodes`` are accepted."""
    cluster_network_policy: bool = False
    """``enable-k8s-cluster-network-policy``: whether the agent enforces Kubernetes
    ClusterNetworkPolicy (from 1.20; :mod:`.tiers`)."""


def parse_document(doc: Mapping[str, Any], ctx: ClusterContext) -> list[Rule]:
    """Every rule of one policy document, as ``ctx``'s cluster would import it.

    The document is first validated as the API server and the agent of ``ctx``'s version
    validate it (:mod:`.validate`); nulls are pruned as the API server prunes them.
    """
    _expect_mapping(doc, ())
    doc = prune_nulls(doc)
    options = {"enable-node-selector-labels": str(ctx.node_selector_labels).lower()}
    try:
        validate(doc, ctx.version, options)
    except ValidationProblem as exc:
        raise InvalidPolicy(exc.message, exc.path) from None
    kind = doc.get("kind")
    if kind not in API_VERSIONS:
        raise InvalidPolicy(
            f"{kind!r} is not a policy kind (expected one of {', '.join(API_VERSIONS)})",
            ("kind",),
        )
    if doc.get("apiVersion") != API_VERSIONS[kind]:
        raise InvalidPolicy(
            f"must be {API_VERSIONS[kind]} for a {kind}, not {doc.get('apiVersion')!r}",
            ("apiVersion",),
        )
    meta = _expect_mapping(doc.get("metadata"), ("metadata",))
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        raise InvalidPolicy("metadata.name is required", ("metadata",))
    _only(doc, ("apiVersion", "kind", "metadata", "spec", "specs", "status"), ())
    name = meta["name"]
    if kind == KNP:
        return [_parse_knp(doc, meta.get("namespace"), name, ctx)]
    namespace = meta.get("namespace") if kind == CNP else None
    if kind == CNP and not namespace:
        raise InvalidPolicy("a CiliumNetworkPolicy needs metadata.namespace", ("metadata",))
    specs: list[tuple[Path, Any]] = []
    if "spec" in doc:
        specs.append((("spec",), doc["spec"]))
    if "specs" in doc:
        _expect_list(doc["specs"], ("specs",))
        specs += [(("specs", i), spec) for i, spec in enumerate(doc["specs"])]
    if not specs:
        raise InvalidPolicy(f"a {kind} needs spec or specs", ())
    prefix = f"{'CNP' if kind == CNP else 'CCNP'} {namespace + '/' if namespace else ''}{name}"
    return [
        _CiliumRuleParser(ctx, namespace, f"{prefix} {_dotted(path)}").rule(spec, path)
        for path, spec in specs
    ]


# ---------------------------------------------------------------------------------------------
# Cilium rules (CNP, CCNP)

_SPEC_KEYS = (
    "endpointSelector",
    "nodeSelector",
    "ingress",
    "ingressDeny",
    "egress",
    "egressDeny",
    "enableDefaultDeny",
    "labels",
    "description",
    "log",
)
_INGRESS_L3 = (
    "fromEndpoints",
    "fromEntities",
    "fromCIDR",
    "fromCIDRSet",
    "fromNodes",
    "fromGroups",
    "fromRequires",
)
_EGRESS_L3 = (
    "toEndpoints",
    "toEntities",
    "toCIDR",
    "toCIDRSet",
    "toNodes",
    "toFQDNs",
    "toServices",
    "toGroups",
    "toRequires",
)
_ENTRY_OTHER = ("toPorts", "icmps", "authentication")
_SECTIONS: tuple[tuple[str, Direction, bool], ...] = (
    ("ingress", "ingress", False),
    ("ingressDeny", "ingress", True),
    ("egress", "egress", False),
    ("egressDeny", "egress", True),
)


class _CiliumRuleParser:
    def __init__(self, ctx: ClusterContext, namespace: str | None, origin: str) -> None:
        self.ctx = ctx
        self.namespace = namespace
        self.origin = origin

    def rule(self, spec: Any, path: Path) -> Rule:
        _expect_mapping(spec, path)
        _only(spec, _SPEC_KEYS, path)
        if ("endpointSelector" in spec) == ("nodeSelector" in spec):
            raise InvalidPolicy("give exactly one of endpointSelector or nodeSelector", path)
        present = [key for key, _, _ in _SECTIONS if spec.get(key)]
        if not present and self.ctx.version >= Version("1.17"):
            # pkg/policy/api/rule_validation.go, since 1.17: a rule with no section is rejected.
            raise InvalidPolicy(
                "rule must have at least one of ingress, ingressDeny, egress, egressDeny",
                path,
            )
        subject = None
        if "endpointSelector" in spec:
            selector = parse_selector(spec["endpointSelector"], (*path, "endpointSelector"))
            subject = self._scope_subject(selector)
        else:
            parse_selector(spec["nodeSelector"], (*path, "nodeSelector"))
        entries: list[Entry] = []
        self.unknown: list[tuple[Direction, str]] = []
        for key, direction, deny in _SECTIONS:
            items = spec.get(key)
            if items is None:
                continue
            _expect_list(items, (*path, key))
            for index, item in enumerate(items):
                entries.append(self.entry(item, (*path, key, index), direction, deny))
        return Rule(
            origin=self.origin,
            subject=subject,
            entries=tuple(entries),
            default_deny=self._default_deny(spec, path),
            unknown=tuple(dict.fromkeys(self.unknown)),
        )

    def _default_deny(self, spec: Mapping[str, Any], path: Path) -> frozenset[Direction]:
        """Each direction with a section is default-deny unless ``enableDefaultDeny`` says no
        (since 1.16; docs/cilium-semantics.md s3)."""
        wanted: set[Direction] = set()
        if spec.get("ingress") or spec.get("ingressDeny"):
            wanted.add("ingress")
        if spec.get("egress") or spec.get("egressDeny"):
            wanted.add("egress")
        toggles = spec.get("enableDefaultDeny")
        if toggles is not None:
            where = (*path, "enableDefaultDeny")
            if self.ctx.version < Version("1.16"):
                raise InvalidPolicy("enableDefaultDeny needs Cilium 1.16 or later", where)
            _expect_mapping(toggles, where)
            _only(toggles, ("ingress", "egress"), where)
            for direction in ("ingress", "egress"):
                value = toggles.get(direction, True)
                if not isinstance(value, bool):
                    raise InvalidPolicy("must be true or false", (*where, direction))
                if not value:
                    wanted.discard(direction)
        return frozenset(wanted)

    def entry(self, item: Any, path: Path, direction: Direction, deny: bool) -> Entry:
        _expect_mapping(item, path)
        l3_keys = _INGRESS_L3 if direction == "ingress" else _EGRESS_L3
        _only(item, (*l3_keys, *_ENTRY_OTHER), path)
        peers: list[Peer] = []
        has_l3 = False
        for key in l3_keys:
            if key not in item:
                continue
            has_l3 = True
            if key in ("fromRequires", "toRequires"):
                # Requirements added to every rule selecting the subject (deprecated): beyond
                # the model, so every verdict of this direction no deny settles is unknown.
                for i, sel in enumerate(_as_list(item[key], (*path, key))):
                    parse_selector(sel, (*path, key, i))
                self.unknown.append((direction, key))
                continue
            peers += self.peers(key, item[key], (*path, key))
        ports: tuple[PortRule, ...] | None = None
        if item.get("toPorts"):
            # An empty toPorts restricts nothing: Cilium tests len(ToPorts) == 0 ("No L4
            # restrictions", pkg/policy/rule.go), as for an absent one.
            ports = parse_cilium_ports(
                item["toPorts"], (*path, "toPorts"), deny, self.ctx, direction
            )
        elif item.get("icmps") not in (None, []):
            # icmps alone restricts the entry to the ICMP types it lists: no TCP, UDP or SCTP
            # port is admitted (docs/cilium-semantics.md s16). An empty one restricts nothing,
            # like an empty toPorts: mergeIngress/mergeEgress (pkg/policy/rule.go) test
            # toPorts.Len() == 0 && icmp.Len() == 0.
            ports = parse_icmps(item["icmps"], (*path, "icmps"))
        if not has_l3:
            # A toPorts-only entry is wildcard L3 (pkg/policy/api/ingress.go); an entry with
            # neither L3 nor L4 adds no filter, so it allows nothing (pkg/policy/rule.go).
            peers = [Peer("wildcard", text="any peer")] if ports is not None else []
        label = f"{self.origin} {_dotted(path[-2:])}"
        return Entry(direction, deny, tuple(peers), ports, label)

    def peers(self, key: str, value: Any, path: Path) -> list[Peer]:
        _expect_list(value, path)
        if key in ("fromEndpoints", "toEndpoints"):
            return [
                self._endpoint_peer(parse_selector(sel, (*path, i))) for i, sel in enumerate(value)
            ]
        if key in ("fromEntities", "toEntities"):
            return [self._entity_peer(entity, (*path, i)) for i, entity in enumerate(value)]
        if key in ("fromNodes", "toNodes"):
            for i, sel in enumerate(value):
                parse_selector(sel, (*path, i))
            return [Peer("nodes", text=f"{key}")]
        if key in ("fromCIDR", "toCIDR"):
            cidrs = tuple((str(cidr), ()) for cidr in value)
            return [Peer("cidr", text=f"{key} {', '.join(c for c, _ in cidrs)}", cidrs=cidrs)]
        if key in ("fromCIDRSet", "toCIDRSet"):
            return [self._cidr_set(key, item, (*path, i)) for i, item in enumerate(value)]
        if key == "toFQDNs":
            names: list[str] = []
            for i, item in enumerate(value):
                _expect_mapping(item, (*path, i))
                _only(item, ("matchName", "matchPattern"), (*path, i))
                names += [str(item[k]) for k in ("matchName", "matchPattern") if k in item]
            return [Peer("fqdn", text=f"toFQDNs {', '.join(names)}", names=tuple(names))]
        # toServices (Services without a selector), toGroups (cloud groups): which addresses
        # they stand for is outside the scenario.
        return [Peer("opaque", text=f"{key} (addresses the model does not know)")]

    def _cidr_set(self, key: str, item: Any, path: Path) -> Peer:
        _expect_mapping(item, path)
        if "cidr" not in item:
            # cidrGroupRef / cidrGroupSelector: CiliumCIDRGroup objects outside the scenario.
            return Peer("opaque", text=f"{key} CIDR group (addresses the model does not know)")
        excepts = tuple(str(e) for e in item.get("except") or ())
        text = f"{key} {item['cidr']}" + (f" except {', '.join(excepts)}" if excepts else "")
        return Peer("cidr", text=text, cidrs=((str(item["cidr"]), excepts),))

    def _endpoint_peer(self, selector: Selector) -> Peer:
        scoped = self._scope_peer(selector)
        added = scoped.requirements - selector.requirements
        local = _local(self.ctx)
        namespace = _ns(self.namespace) if self.namespace else None
        return Peer(
            "endpoints",
            selector=scoped,
            text=f"endpoints {scoped}",
            local_scope=local if local in added else None,
            namespace_scope=namespace if namespace in added else None,
            scope_note=_scope_note(self.ctx),
        )

    def _entity_peer(self, entity: Any, path: Path) -> Peer:
        if entity not in KNOWN_ENTITIES:
            raise InvalidPolicy(f"unknown entity {entity!r}", path)
        if entity == "cluster-mesh" and self.ctx.version < Version("1.20"):
            raise InvalidPolicy(
                "entity 'cluster-mesh' needs Cilium 1.20 (cilium#46813); "
                f"this cluster runs {self.ctx.version}",
                path,
            )
        return Peer("entity", entity=entity, text=f"entity {entity}")

    def _scope_subject(self, selector: Selector) -> Selector:
        if self.namespace is None or selector.has_source(SOURCE_RESERVED):
            return selector
        # A CNP subject always lives in the policy's namespace; it cannot widen it.
        kept = frozenset(r for r in selector.requirements if r.key != NAMESPACE)
        return Selector(kept).with_requirements([_ns(self.namespace)])

    def _scope_peer(self, selector: Selector) -> Selector:
        if selector.has_source(SOURCE_RESERVED):
            return selector
        extra: list[Requirement] = []
        if not selector.has_key(NAMESPACE):
            if self.namespace is None:
                extra.append(requirement(f"{SOURCE_K8S}:{NAMESPACE}", "Exists"))
            elif not (
                # Namespace-label selectors cross namespaces in a CNP since 1.16.
                self.ctx.version >= Version("1.16") and selector.has_key_prefix(NAMESPACE_LABELS)
            ):
                extra.append(_ns(self.namespace))
        if self.ctx.default_local_cluster and not selector.has_key(CLUSTER):
            extra.append(_local(self.ctx))
        return selector.with_requirements(extra)


def _scope_note(ctx: ClusterContext) -> str:
    default = "on" if ctx.version >= Version("1.19") else "off"
    value = "on" if ctx.default_local_cluster else "off"
    how = "its default" if value == default else f"not its default, {default}"
    return f"policy-default-local-cluster is {value} in Cilium {ctx.version}, {how}"


def _ns(namespace: str) -> Requirement:
    return requirement(f"{SOURCE_K8S}:{NAMESPACE}", "In", [namespace])


def _local(ctx: ClusterContext) -> Requirement:
    return requirement(f"{SOURCE_K8S}:{CLUSTER}", "In", [ctx.cluster_name])


def parse_selector(raw: Any, path: Path, source: str | None = None) -> Selector:
    """``{matchLabels, matchExpressions}``; ``source`` prefixes unprefixed keys (KNP: k8s)."""
    if raw is None:
        return Selector()
    _expect_mapping(raw, path)
    _only(raw, ("matchLabels", "matchExpressions"), path)
    reqs: list[Requirement] = []
    labels = raw.get("matchLabels") or {}
    _expect_mapping(labels, (*path, "matchLabels"))
    for key, value in labels.items():
        if not isinstance(value, str | int | bool) or isinstance(value, bool):
            raise InvalidPolicy("a label value must be a string", (*path, "matchLabels", key))
        reqs.append(requirement(_prefixed(str(key), source), "In", [str(value)]))
    expressions = raw.get("matchExpressions") or []
    _expect_list(expressions, (*path, "matchExpressions"))
    for i, expr in enumerate(expressions):
        where = (*path, "matchExpressions", i)
        _expect_mapping(expr, where)
        _only(expr, ("key", "operator", "values"), where)
        op = expr.get("operator")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise InvalidPolicy(
                f"operator must be In, NotIn, Exists or DoesNotExist, not {op!r}", where
            )
        values = expr.get("values") or []
        _expect_list(values, (*where, "values"))
        if op in ("In", "NotIn") and not values:
            raise InvalidPolicy(f"operator {op} needs values", where)
        if op in ("Exists", "DoesNotExist") and values:
            raise InvalidPolicy(f"operator {op} takes no values", where)
        if not isinstance(expr.get("key"), str):
            raise InvalidPolicy("key is required", where)
        reqs.append(requirement(_prefixed(expr["key"], source), op, [str(v) for v in values]))
    return Selector(frozenset(reqs))


def _prefixed(key: str, source: str | None) -> str:
    return f"{source}:{key}" if source and ":" not in key else key


def parse_cilium_ports(
    raw: Any, path: Path, deny: bool, ctx: ClusterContext, direction: Direction = "ingress"
) -> tuple[PortRule, ...]:
    _expect_list(raw, path)
    rules: list[PortRule] = []
    for i, item in enumerate(raw):
        where = (*path, i)
        _expect_mapping(item, where)
        _only(
            item,
            ("ports", "rules", "terminatingTLS", "originatingTLS", "serverNames", "listener"),
            where,
        )
        http, unknown = _parse_l7(item.get("rules"), (*where, "rules"), deny)
        dns = _l7_dns(item.get("rules"), (*where, "rules"))
        ports = item.get("ports")
        if not ports:
            rules.append(PortRule(None, http=http, unknown=unknown, dns=dns))
            continue
        _expect_list(ports, (*where, "ports"))
        for j, port in enumerate(ports):
            rule = _port_rule(
                port, (*where, "ports", j), http, ctx, cilium=True, direction=direction
            )
            if unknown:
                rule = replace(rule, unknown=", ".join(filter(None, (rule.unknown, unknown))))
            if dns is not None:
                rule = replace(rule, dns=dns)
            rules.append(rule)
    return tuple(rules)


#: ICMP type names (``ICMPField.type`` is an int or a CamelCase name since 1.16;
#: ``icmpIpv4TypeNameToCode``/``icmpIpv6TypeNameToCode`` in pkg/policy/api/icmp.go). Only the
#: names that matter for a ping are needed to decide one; the others stand for other types.
_ICMP_NAMES = {
    "IPv4": {
        "EchoReply": 0,
        "DestinationUnreachable": 3,
        "Redirect": 5,
        "Echo": 8,
        "EchoRequest": 8,
        "RouterAdvertisement": 9,
        "RouterSelection": 10,
        "TimeExceeded": 11,
        "ParameterProblem": 12,
        "Timestamp": 13,
        "TimestampReply": 14,
        "Photuris": 40,
        "ExtendedEchoRequest": 42,
        "ExtendedEchoReply": 43,
    },
    "IPv6": {
        "DestinationUnreachable": 1,
        "PacketTooBig": 2,
        "TimeExceeded": 3,
        "ParameterProblem": 4,
        "EchoRequest": 128,
        "EchoReply": 129,
    },
}


def parse_icmps(raw: Any, path: Path) -> tuple[PortRule, ...]:
    """``icmps: [{fields: [{family, type}]}]`` as port rules of protocol ICMP (IPv4, the
    default family) or ICMPv6, the type in place of the port (``ICMPField.PortProtocol``,
    pkg/policy/api/icmp.go)."""
    _expect_list(raw, path)
    rules: list[PortRule] = []
    for i, item in enumerate(raw):
        _expect_mapping(item, (*path, i))
        _only(item, ("fields",), (*path, i))
        fields = item.get("fields") or []
        _expect_list(fields, (*path, i, "fields"))
        for j, field in enumerate(fields):
            where = (*path, i, "fields", j)
            _expect_mapping(field, where)
            _only(field, ("family", "type"), where)
            family = field.get("family", "IPv4")
            if family not in _ICMP_NAMES:
                raise InvalidPolicy("family must be IPv4 or IPv6", (*where, "family"))
            kind = field.get("type")
            if isinstance(kind, float) and kind.is_integer():
                # 8.0 passes the CRD's integer type (a whole float is an integer to the API
                # server's schema check) and is served back as 8, which the agent reads.
                kind = int(kind)
            number: int | None
            if (isinstance(kind, int) and not isinstance(kind, bool)) or _is_number(kind):
                number = int(kind)
                if not 0 <= number <= 255:
                    raise InvalidPolicy(
                        f"ICMP type {number} is out of range 0-255", (*where, "type")
                    )
            elif isinstance(kind, str):
                number = _ICMP_NAMES[family].get(kind)
                if number is None:
                    # A name the schema admits for the other family, or one the model does
                    # not list: never the echo request of a probe's family.
                    number = -1
            else:
                raise InvalidPolicy("type is an ICMP type number or name", (*where, "type"))
            protocol: L4 = "ICMP" if family == "IPv4" else "ICMPv6"
            rules.append(PortRule(number, protocols=frozenset({protocol})))
    return tuple(rules)


def _is_number(value: Any) -> bool:
    """A string of ASCII digits: ``str.isdigit`` also admits ``²``, which ``int()`` refuses."""
    return isinstance(value, str) and value.isascii() and value.isdigit()


_L7_FEATURES = {"kafka": "Kafka L7 rules", "l7proto": "l7proto rules"}


def _parse_dns(raw: Any, path: Path) -> tuple[str, ...] | None:
    """``rules.dns``: the names its DNS proxy lets through, as patterns (pkg/policy/api/l7.go
    ``PortRuleDNS``: ``matchName`` or ``matchPattern``)."""
    if raw is None:
        return None
    _expect_list(raw, path)
    names: list[str] = []
    for i, rule in enumerate(raw):
        _expect_mapping(rule, (*path, i))
        _only(rule, ("matchName", "matchPattern"), (*path, i))
        names += [str(rule[k]) for k in ("matchName", "matchPattern") if k in rule]
    return tuple(names)


def _parse_l7(raw: Any, path: Path, deny: bool) -> tuple[tuple[HttpRule, ...] | None, str | None]:
    """The HTTP rules the model evaluates, and the L7 feature it does not cover (if any)."""
    if raw is None:
        return None, None
    if deny:
        raise InvalidPolicy("deny rules do not support L7 rules (security/policy/deny.rst)", path)
    _expect_mapping(raw, path)
    _only(raw, ("http", "dns", "kafka", "l7proto", "l7"), path)
    unknown = [_L7_FEATURES[key] for key in ("kafka", "l7proto") if key in raw]
    out = []
    if "http" in raw:
        _expect_list(raw["http"], (*path, "http"))
        for i, rule in enumerate(raw["http"]):
            where = (*path, "http", i)
            _expect_mapping(rule, where)
            _only(rule, ("method", "path", "host", "headers", "headerMatches"), where)
            if "headerMatches" in rule:
                # Matches with mismatch actions (LOG, ADD, DELETE, REPLACE) and secrets.
                if "HTTP headerMatches rules" not in unknown:
                    unknown.append("HTTP headerMatches rules")
                continue
            headers: list[tuple[str, str | None]] = []
            for text in rule.get("headers") or ():
                # pkg/envoy/server.go getHTTPRule: "X-Key: value" is the header with that
                # exact value, "X-Key" its presence.
                name, _, value = str(text).partition(" ")
                headers.append((name.rstrip(":"), value if value else None))
            out.append(
                HttpRule(rule.get("method"), rule.get("path"), rule.get("host"), tuple(headers))
            )
    if "http" not in raw and not unknown:
        return None, None
    return tuple(out), (", ".join(unknown) or None)


def _l7_dns(raw: Any, path: Path) -> tuple[str, ...] | None:
    if not isinstance(raw, Mapping):
        return None
    return _parse_dns(raw.get("dns"), (*path, "dns"))


def _port_rule(
    raw: Any,
    path: Path,
    http: tuple[HttpRule, ...] | None,
    ctx: ClusterContext,
    *,
    cilium: bool,
    direction: Direction,
) -> PortRule:
    _expect_mapping(raw, path)
    _only(raw, ("port", "endPort", "protocol"), path)
    port = raw.get("port")
    number: int | None
    named: str | None = None
    if port is None or str(port) == "0":
        number = None
    elif isinstance(port, int) or _is_number(port):
        number = int(port)
        if not 1 <= number <= 65535:
            raise InvalidPolicy(f"port {number} is out of range", (*path, "port"))
    elif isinstance(port, str) and port:
        # A named port: Cilium resolves it against the destination pod's container ports
        # (per destination identity on egress from 1.20; per node before, cilium#24779).
        number, named = None, port
    else:
        raise InvalidPolicy(f"expected a port number or name, got {port!r}", (*path, "port"))
    end = raw.get("endPort")
    if end is not None:
        if cilium and ctx.version < Version("1.16"):
            raise InvalidPolicy("endPort in a Cilium policy needs Cilium 1.16", (*path, "endPort"))
        if not isinstance(end, int) or number is None or end < number:
            raise InvalidPolicy("endPort must be a number not below port", (*path, "endPort"))
    proto = str(raw.get("protocol", "ANY" if cilium else "TCP")).upper()
    if proto == "ANY":
        protocols = ALL_PROTOCOLS
    elif proto in ALL_PROTOCOLS:
        protocols = frozenset({proto})
    else:
        # VRRP, IGMP (1.19), GRE, IPIP, ... (1.20), admitted by the schema of the version in
        # force: no TCP, UDP or SCTP probe matches them (docs/cilium-semantics.md s5).
        protocols = frozenset()
    per_node = named is not None and direction == "egress" and ctx.version < Version("1.20")
    return PortRule(number, end, protocols, http, None, named, per_node)


# ---------------------------------------------------------------------------------------------
# Kubernetes NetworkPolicy


def _parse_knp(doc: Mapping[str, Any], namespace: Any, name: str, ctx: ClusterContext) -> Rule:
    if not isinstance(namespace, str) or not namespace:
        raise InvalidPolicy("a NetworkPolicy needs metadata.namespace", ("metadata",))
    # Neither spec nor podSelector is required: both are structs the API server decodes to
    # their zero value, the empty selector that selects every pod of the namespace, and
    # ValidateNetworkPolicySpec (kubernetes pkg/apis/networking/validation) asks for neither
    # (docs/cilium-semantics.md s6). A policy of nothing but metadata isolates every pod.
    spec = _expect_mapping({} if doc.get("spec") is None else doc["spec"], ("spec",))
    _only(spec, ("podSelector", "policyTypes", "ingress", "egress"), ("spec",))
    subject = parse_selector(spec.get("podSelector", {}), ("spec", "podSelector"), SOURCE_K8S)
    subject = subject.with_requirements([_ns(namespace)])
    types = spec.get("policyTypes")
    if not types:
        # The API server's defaulting (SetDefaults_NetworkPolicy, kubernetes
        # pkg/apis/networking/v1/defaults.go): Ingress, plus Egress only for a non-empty egress
        # list (docs/cilium-semantics.md s6).
        types = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    _expect_list(types, ("spec", "policyTypes"))
    origin = f"KNP {namespace}/{name}"
    entries: list[Entry] = []
    directions: set[Direction] = set()
    for kind, key, peer_key, direction in (
        ("Ingress", "ingress", "from", "ingress"),
        ("Egress", "egress", "to", "egress"),
    ):
        if kind not in types:
            continue
        directions.add(direction)  # type: ignore[arg-type]
        items = spec.get(key) or []
        _expect_list(items, ("spec", key))
        for i, item in enumerate(items):
            where: Path = ("spec", key, i)
            _expect_mapping(item, where)
            _only(item, (peer_key, "ports"), where)
            peers = _knp_peers(item.get(peer_key), (*where, peer_key), namespace, ctx)
            ports = _knp_ports(item.get("ports"), (*where, "ports"), ctx, direction)  # type: ignore[arg-type]
            entries.append(Entry(direction, False, peers, ports, f"{origin} {key}[{i}]"))  # type: ignore[arg-type]
    unknown = set(types) - {"Ingress", "Egress"}
    if unknown:
        bad = sorted(map(str, unknown))[0]
        hint = difflib.get_close_matches(bad.capitalize(), ["Ingress", "Egress"], n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise InvalidPolicy(
            f"unknown policy type {bad!r}{suggestion}; the types are Ingress and Egress",
            ("spec", "policyTypes"),
        )
    return Rule(origin, subject, tuple(entries), frozenset(directions))


def _knp_peers(raw: Any, path: Path, namespace: str, ctx: ClusterContext) -> tuple[Peer, ...]:
    if not raw:
        # An empty or missing from/to matches all peers, in every cluster
        # (docs/cilium-semantics.md s3).
        return (Peer("wildcard", text="any peer (empty from/to)"),)
    _expect_list(raw, path)
    peers = []
    for i, item in enumerate(raw):
        where = (*path, i)
        _expect_mapping(item, where)
        _only(item, ("podSelector", "namespaceSelector", "ipBlock"), where)
        if "ipBlock" in item:
            if len(item) > 1:
                raise InvalidPolicy("ipBlock cannot be combined with selectors", where)
            block = _expect_mapping(item["ipBlock"], (*where, "ipBlock"))
            excepts = tuple(str(e) for e in block.get("except") or ())
            text = f"ipBlock {block.get('cidr')}" + (
                f" except {', '.join(excepts)}" if excepts else ""
            )
            peers.append(Peer("cidr", text=text, cidrs=((str(block.get("cidr")), excepts),)))
            continue
        pods = parse_selector(item.get("podSelector"), (*where, "podSelector"), SOURCE_K8S)
        extra: list[Requirement] = []
        if "namespaceSelector" in item:
            ns_sel = parse_selector(item["namespaceSelector"], (*where, "namespaceSelector"))
            if not ns_sel.requirements:
                extra.append(requirement(f"{SOURCE_K8S}:{NAMESPACE}", "Exists"))
            extra += [
                Requirement(SOURCE_K8S, NAMESPACE_LABELS + r.key, r.operator, r.values)
                for r in ns_sel.requirements
            ]
        else:
            extra.append(_ns(namespace))
        local = None
        if ctx.default_local_cluster and not _names_cluster(item.get("podSelector")):
            local = _local(ctx)
            extra.append(local)
        selector = pods.with_requirements(extra)
        namespace_scope = _ns(namespace) if "namespaceSelector" not in item else None
        peers.append(
            Peer(
                "endpoints",
                selector=selector,
                text=f"endpoints {selector}",
                local_scope=local if local not in pods.requirements else None,
                namespace_scope=namespace_scope,
                scope_note=_scope_note(ctx),
            )
        )
    return tuple(peers)


def _names_cluster(pod_selector: Any) -> bool:
    """Whether a KNP podSelector names the cluster itself, so local scoping stays off: a
    ``matchLabels`` key with a value, or any ``matchExpressions`` key
    (``isPodSelectorSelectingCluster``, pkg/k8s/network_policy.go; docs/cilium-semantics.md
    s6)."""
    if not isinstance(pod_selector, Mapping):
        return False
    labels = pod_selector.get("matchLabels") or {}
    expressions = pod_selector.get("matchExpressions") or []
    return bool(labels.get(CLUSTER)) or any(
        isinstance(expr, Mapping) and expr.get("key") == CLUSTER for expr in expressions
    )


def _knp_ports(
    raw: Any, path: Path, ctx: ClusterContext, direction: Direction
) -> tuple[PortRule, ...] | None:
    if not raw:
        return None
    _expect_list(raw, path)
    return tuple(
        _port_rule(item, (*path, i), None, ctx, cilium=False, direction=direction)
        for i, item in enumerate(raw)
    )


# ---------------------------------------------------------------------------------------------
# shape helpers


def _expect_mapping(value: Any, path: Path) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidPolicy(f"expected a mapping, got {_typename(value)}", path)
    return value


def _as_list(value: Any, path: Path) -> Sequence[Any]:
    _expect_list(value, path)
    return value  # type: ignore[no-any-return]


def _expect_list(value: Any, path: Path) -> None:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidPolicy(f"expected a list, got {_typename(value)}", path)


def _only(mapping: Mapping[str, Any], allowed: Sequence[str], path: Path) -> None:
    for key in mapping:
        if key not in allowed:
            raise InvalidPolicy(
                f"unknown field {key!r} (expected one of: {', '.join(allowed)})", (*path, key)
            )


def _typename(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _dotted(path: Sequence[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
