"""Validation of a policy document as the API server and the agent do it, before the model reads it.

Three layers, each with the rule it follows:

- **The API server, CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy:** the CRDs'
  structural schemas (strict fields, types, enums, formats and patterns), validated with
  ``jsonschema`` against the schemas in ``schemas/`` (Cilium 1.18.2, converted by
  datreeio/CRDs-catalog, MIT; see ``schemas/README.md``), with the enum values other releases add
  or lack as version gates (:data:`ENUM_GATES`). Strict field validation also covers
  ``metadata`` (the schema leaves it open: ObjectMeta's fields are checked here).
- **The API server, Kubernetes NetworkPolicy:** the built-in validation that matters for
  verdicts (labels, ports, protocols, CIDRs), :func:`_knp_errors`
  (kubernetes ``pkg/apis/networking/validation``).
- **The agent, when it imports a rule:** ``pkg/policy/api/rule_validation.go``: no two L3 kinds
  in one entry (``toCIDR`` with ``toCIDRSet``, say), ``icmps`` without ``toPorts``,
  ``fromNodes``/``toNodes`` only with ``enable-node-selector-labels``, DNS rules only on egress.

Null values are pruned first, as the API server prunes nulls of non-nullable fields before it
validates: ``fromEndpoints:`` left empty is an entry with nothing (docs/cilium-semantics.md s14).
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import jsonschema
from packaging.version import Version

Path = tuple[str | int, ...]

SCHEMA_FILES = {
    "CiliumNetworkPolicy": "ciliumnetworkpolicy_v2.json",
    "CiliumClusterwideNetworkPolicy": "ciliumclusterwidenetworkpolicy_v2.json",
}
SCHEMA_VERSION = Version("1.18")
"""The release the shipped schemas come from (1.18.2)."""

#: Enum values a release has beyond (or short of) the 1.18 schema: (schema location, value,
#: first release with it). docs/cilium-semantics.md s5 (protocols), s4 (entities), s14.
ENUM_GATES: tuple[tuple[str, str, Version], ...] = (
    ("entity", "cluster-mesh", Version("1.20")),  # cilium#46813
    ("protocol", "VRRP", Version("1.19")),
    ("protocol", "IGMP", Version("1.19")),
    *(("protocol", p, Version("1.20")) for p in ("GRE", "IPIP", "IPV6", "ESP", "AH")),
)

#: ObjectMeta's fields (k8s.io/apimachinery ObjectMeta); strict field validation rejects others.
OBJECT_META = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ValidationProblem(Exception):
    """One violation: ``path`` points into the document."""

    def __init__(self, message: str, path: Path = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def prune_nulls(value: Any) -> Any:
    """``value`` without null mapping values, recursively (the API server's pruning of nulls in
    non-nullable fields; none of the policy fields is nullable)."""
    if isinstance(value, Mapping):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [prune_nulls(v) for v in value]
    return value


def validate(doc: Mapping[str, Any], version: Version, options: Mapping[str, str]) -> None:
    """Raise :class:`ValidationProblem` for the first violation, as ``version`` sees it.

    ``doc`` must be pruned of nulls (:func:`prune_nulls`). ``options`` are the agent's
    (``enable-node-selector-labels``). Results are cached per document text, release and
    options: a run validates the same documents at load, per step and per cluster.
    """
    text = json.dumps(_plain(doc), sort_keys=True, default=str)
    release = f"{version.major}.{version.minor}"
    found = _validate_text(text, release, tuple(sorted(options.items())))
    if found is not None:
        raise ValidationProblem(*found)


@lru_cache(maxsize=4096)
def _validate_text(
    text: str, release: str, options: tuple[tuple[str, str], ...]
) -> tuple[str, Path] | None:
    try:
        _validate(json.loads(text), Version(release), dict(options))
    except ValidationProblem as exc:
        return exc.message, exc.path
    return None


def _validate(doc: Mapping[str, Any], version: Version, options: Mapping[str, str]) -> None:
    kind = doc.get("kind")
    meta = doc.get("metadata")
    if isinstance(meta, Mapping):
        _check_meta(meta)
    if kind in SCHEMA_FILES:
        problem = next(_schema_errors(doc, str(kind), version), None)
        if problem is not None:
            raise problem
        _check_cilium_rules(doc, options)
    elif kind == "NetworkPolicy":
        problem = next(_knp_errors(doc), None)
        if problem is not None:
            raise problem


# -- the API server: metadata --------------------------------------------------------------------


def _check_meta(meta: Mapping[str, Any]) -> None:
    for key in meta:
        if key not in OBJECT_META:
            hint = difflib.get_close_matches(str(key), OBJECT_META, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ValidationProblem(
                f"unknown field {key!r}{suggestion}: strict field validation rejects it",
                ("metadata", key),
            )
    for field in ("labels", "annotations"):
        found = meta.get(field)
        if found is None:
            continue
        if not isinstance(found, Mapping):
            raise ValidationProblem("expected a mapping", ("metadata", field))
        for key, value in found.items():
            if not isinstance(value, str):
                raise ValidationProblem(
                    f"expected a string, got {_typename(value)} (quote it)",
                    ("metadata", field, key),
                )
            if field == "labels":
                _check_label(str(key), value, ("metadata", field, key))


def _check_label(key: str, value: str, path: Path) -> None:
    """A label key (an optional DNS-subdomain prefix and a name) and value, as
    ``ValidateLabels`` (k8s.io/apimachinery) checks them."""
    prefix, _, name = key.rpartition("/")
    if (
        not _LABEL_NAME.match(name)
        or len(name) > 63
        or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))
    ):
        raise ValidationProblem(f"{key!r} is not a valid label key", path)
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValidationProblem(
            f"{value!r} is not a valid label value (at most 63 letters, digits, '-', '_' or "
            "'.', starting and ending with a letter or digit)",
            path,
        )


# -- the API server: CRD schema --------------------------------------------------------------------


def _is_cidr(value: object) -> bool:
    # format: cidr is net.ParseCIDR: a prefix length is required, host bits may be set.
    if isinstance(value, str):
        if "/" not in value:
            raise ValueError(f"{value!r} has no prefix length")
        ipaddress.ip_network(value, strict=False)
    return True


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    """``pattern``, with RE2's ``\\PC`` (no control or other "C" character), which Python's
    ``re`` lacks, checked with :mod:`unicodedata`."""
    if not isinstance(instance, str):
        return
    if pattern == r"^\PC*$":
        ok = all(unicodedata.category(ch)[0] != "C" for ch in instance)
    else:
        ok = re.search(pattern, instance) is not None
    if not ok:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


# Only the formats the API server checks (k8s.io/apiextensions-apiserver validation: cidr among
# them); idn-hostname, which the CRD gives HTTP ``host`` (a regular expression), is not.
_FORMATS = jsonschema.FormatChecker(formats=())
_FORMATS.checks("cidr", raises=ValueError)(_is_cidr)
_Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern})


@cache
def _schema(kind: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("schemas", SCHEMA_FILES[kind]).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(kind: str, version: Version) -> Any:
    """The schema with the enum values of ``version`` (:data:`ENUM_GATES`)."""
    schema = copy.deepcopy(_schema(kind))
    if version < Version("1.17"):
        # A rule with no section is accepted before 1.17 (docs/cilium-semantics.md s14).
        for node in _walk(schema):
            if (
                isinstance(node.get("properties"), dict)
                and "endpointSelector" in node["properties"]
            ):
                node.pop("anyOf", None)
    for node in _walk(schema):
        values = node.get("enum")
        if not isinstance(values, list):
            continue
        target = _enum_target(values)
        if target is None:
            continue
        for where, value, since in ENUM_GATES:
            if where == target and version >= since and value not in values:
                values.append(value)
            if where == target and version < since and value in values:
                values.remove(value)
    return _Validator(schema, format_checker=_FORMATS)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from _walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child)


def _schema_errors(
    doc: Mapping[str, Any], kind: str, version: Version
) -> Iterator[ValidationProblem]:
    validator = _validator(kind, Version(f"{version.major}.{version.minor}"))
    found = sorted(validator.iter_errors(_plain(doc)), key=lambda e: list(map(str, e.path)))
    for error in found:
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            allowed = error.schema.get("properties") or {}
            extra = [k for k in error.instance if k not in allowed]
            path = (*path, *extra[:1])  # at the unknown key's own line
        yield ValidationProblem(_say(error, version), path)


def _enum_target(values: list[Any]) -> str | None:
    """Which gated enum ``values`` is (:data:`ENUM_GATES`): the entities or the protocols."""
    return "entity" if "world" in values else "protocol" if "SCTP" in values else None


def _say(error: jsonschema.ValidationError, version: Version) -> str:
    """A schema error in the policy's words: what is wrong and what would be valid."""
    value = error.instance
    keyword = error.validator
    target = _enum_target(error.validator_value) if keyword == "enum" else None
    # Only the enum the value failed: VRRP, a protocol of 1.19, is no entity in any release.
    gated = [(w, since) for w, gated, since in ENUM_GATES if gated == value and w == target]
    if gated and version < gated[0][1]:
        return (
            f"{gated[0][0]} {value!r} needs Cilium {gated[0][1]} or later; this cluster runs "
            f"{version.major}.{version.minor}"
        )
    if (
        keyword == "anyOf"
        and isinstance(value, Mapping)
        and "endpointSelector" in str(error.schema)
    ):
        return "rule must have at least one of ingress, ingressDeny, egress, egressDeny"
    if keyword == "oneOf" and isinstance(error.validator_value, list):
        keys = [k for option in error.validator_value for k in option.get("required", ())]
        return f"give exactly one of {', '.join(keys)}"
    if keyword == "additionalProperties" and isinstance(value, Mapping):
        allowed = list(error.schema.get("properties") or {})
        extra = [k for k in value if k not in allowed]
        denying = any(p in ("ingressDeny", "egressDeny") for p in error.absolute_path)
        if extra == ["rules"] and denying:
            return "deny rules do not support L7 rules (security/policy/deny.rst)"
        if extra and allowed:
            hint = difflib.get_close_matches(extra[0], allowed, n=1)
            suggestion = f"did you mean {hint[0]!r}? " if hint else ""
            return f"unknown field {extra[0]!r} ({suggestion}expected one of: {', '.join(allowed)})"
    if keyword == "type":
        wanted = error.validator_value
        quote = " (quote it)" if wanted == "string" and isinstance(value, int | float) else ""
        return f"expected {_article(wanted)}, got {_typename(value)} {value!r}{quote}"
    if keyword == "enum":
        values = [str(v) for v in error.validator_value]
        hint = difflib.get_close_matches(str(value), values, n=1)
        if not hint:
            hint = [v for v in values if v.lower() == str(value).lower()]
        suggestion = f"did you mean {hint[0]!r}? " if hint else ""
        what = "unknown entity" if "world" in values else "not valid:"
        return f"{what} {value!r} ({suggestion}expected one of {', '.join(values)}; case matters)"
    if keyword == "format":
        return f"{value!r} is not a valid {error.validator_value}"
    if keyword == "pattern":
        return f"{value!r} is not valid here (it must match {error.validator_value})"
    message = str(error.message)
    if keyword == "required":
        return message.replace("is a required property", "is required")
    return message


def _article(wanted: Any) -> str:
    names = {"string": "a string", "integer": "a whole number", "object": "a mapping"}
    names |= {"array": "a list", "boolean": "true or false", "number": "a number"}
    return names.get(str(wanted), str(wanted))


def _plain(value: Any) -> Any:
    """JSON types only: YAML-loaded documents carry line marks (dict/str subclasses)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


# -- the agent: rule_validation.go ---------------------------------------------------------------

_L3 = {
    "ingress": (
        "fromEndpoints",
        "fromCIDR",
        "fromCIDRSet",
        "fromEntities",
        "fromNodes",
        "fromGroups",
    ),
    "egress": (
        "toEndpoints",
        "toCIDR",
        "toCIDRSet",
        "toEntities",
        "toServices",
        "toGroups",
        "toNodes",
        "toFQDNs",
    ),
}
_SECTIONS = (
    ("ingress", "ingress"),
    ("ingressDeny", "ingress"),
    ("egress", "egress"),
    ("egressDeny", "egress"),
)


def _check_cilium_rules(doc: Mapping[str, Any], options: Mapping[str, str]) -> None:
    specs: list[tuple[Path, Any]] = []
    if isinstance(doc.get("spec"), Mapping):
        specs.append((("spec",), doc["spec"]))
    for i, spec in enumerate(doc.get("specs") or ()):
        specs.append((("specs", i), spec))
    node_labels = str(options.get("enable-node-selector-labels", "false")).lower() == "true"
    for path, spec in specs:
        for section, direction in _SECTIONS:
            for i, entry in enumerate(spec.get(section) or ()):
                where = (*path, section, i)
                present = [key for key in _L3[direction] if entry.get(key)]
                if len(present) > 1:
                    # IngressCommonRule.Validate / EgressCommonRule.Validate.
                    raise ValidationProblem(
                        f"combining {present[0]} and {present[1]} in one rule is not supported "
                        "(the agent rejects it; write two rules)",
                        (*where, present[1]),
                    )
                if entry.get("icmps") and entry.get("toPorts"):
                    raise ValidationProblem(
                        "the icmps block may only be present without toPorts (the agent "
                        "rejects it; write two rules)",
                        (*where, "icmps"),
                    )
                for nodes in ("fromNodes", "toNodes"):
                    if entry.get(nodes) and not node_labels:
                        raise ValidationProblem(
                            f"{nodes} needs the agent option enable-node-selector-labels=true "
                            "(off by default; the agent rejects the rule without it)",
                            (*where, nodes),
                        )
                if direction == "ingress":
                    for j, port in enumerate(entry.get("toPorts") or ()):
                        if (port.get("rules") or {}).get("dns"):
                            raise ValidationProblem(
                                "DNS rules are not allowed on ingress",
                                (*where, "toPorts", j, "rules", "dns"),
                            )


# -- the API server: Kubernetes NetworkPolicy ---------------------------------------------------


def _knp_errors(doc: Mapping[str, Any]) -> Iterator[ValidationProblem]:
    """``ValidateNetworkPolicy`` (kubernetes pkg/apis/networking/validation): the parts that
    change verdicts."""
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        return
    yield from _knp_selector(spec.get("podSelector"), ("spec", "podSelector"))
    for key, peer_key in (("ingress", "from"), ("egress", "to")):
        for i, item in enumerate(_seq(spec.get(key))):
            if not isinstance(item, Mapping):
                continue
            where: Path = ("spec", key, i)
            for j, port in enumerate(_seq(item.get("ports"))):
                if isinstance(port, Mapping):
                    yield from _knp_port(port, (*where, "ports", j))
            for j, peer in enumerate(_seq(item.get(peer_key))):
                if not isinstance(peer, Mapping):
                    continue
                at = (*where, peer_key, j)
                for sel in ("podSelector", "namespaceSelector"):
                    yield from _knp_selector(peer.get(sel), (*at, sel))
                block = peer.get("ipBlock")
                if isinstance(block, Mapping):
                    yield from _ip_block(block, (*at, "ipBlock"))


def _seq(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def _knp_selector(raw: Any, path: Path) -> Iterator[ValidationProblem]:
    if not isinstance(raw, Mapping):
        return
    labels = raw.get("matchLabels")
    if isinstance(labels, Mapping):
        for key, value in labels.items():
            if not isinstance(value, str):
                yield ValidationProblem(
                    f"expected a string, got {_typename(value)} {value!r} (quote it)",
                    (*path, "matchLabels", key),
                )
                continue
            try:
                _check_label(str(key), value, (*path, "matchLabels", key))
            except ValidationProblem as exc:
                yield exc


def _port_name_problems(name: str) -> list[str]:
    """Why ``name`` is no port name, as k8s.io/apimachinery ``IsValidPortName`` says (an IANA
    service name, RFC 6335, in lower case)."""
    wrong = []
    if len(name) > 15:
        wrong.append("at most 15 characters")
    if not re.fullmatch("[-a-z0-9]+", name):
        wrong.append("only a-z, 0-9 and '-'")
    if not re.search("[a-z]", name):
        number = " (a port number is written without quotes)" if name.isdigit() else ""
        wrong.append(f"at least one letter{number}")
    if "--" in name:
        wrong.append("no two hyphens in a row")
    if name.startswith("-") or name.endswith("-"):
        wrong.append("no hyphen at either end")
    return wrong


def _knp_port(port: Mapping[str, Any], path: Path) -> Iterator[ValidationProblem]:
    protocol = port.get("protocol")
    if protocol is not None and protocol not in ("TCP", "UDP", "SCTP"):
        yield ValidationProblem(
            f"{protocol!r} is not one of TCP, UDP, SCTP (case matters)", (*path, "protocol")
        )
    value = port.get("port")
    if isinstance(value, str):
        # An IntOrString written as a string is a name, "80" included (IsValidPortName).
        wrong = _port_name_problems(value)
        if wrong:
            yield ValidationProblem(
                f"{value!r} is not a valid port name: {'; '.join(wrong)}", (*path, "port")
            )
    elif isinstance(value, bool) or (value is not None and not isinstance(value, int)):
        yield ValidationProblem("expected a port number or name", (*path, "port"))
    elif value is not None and not 1 <= int(value) <= 65535:
        yield ValidationProblem(f"port {value} is out of range 1-65535", (*path, "port"))


def _ip_block(block: Mapping[str, Any], path: Path) -> Iterator[ValidationProblem]:
    try:
        network = ipaddress.ip_network(str(block.get("cidr")), strict=False)
        if "/" not in str(block.get("cidr")):
            raise ValueError
    except ValueError:
        yield ValidationProblem(f"{block.get('cidr')!r} is not a valid CIDR", (*path, "cidr"))
        return
    for i, text in enumerate(_seq(block.get("except"))):
        try:
            inner = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            yield ValidationProblem(f"{text!r} is not a valid CIDR", (*path, "except", i))
            continue
        if (
            inner.version != network.version or inner == network or not inner.subnet_of(network)  # type: ignore[arg-type]
        ):
            yield ValidationProblem(
                f"{text} must be strictly within {network}", (*path, "except", i)
            )


def _typename(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string"}
    if value is None:
        return "nothing"
    return names.get(type(value), "a list" if isinstance(value, list) else type(value).__name__)
