"""Facts of a mesh under test, and ``when:`` conditions over them.

Facts are what decides a verdict besides the policies: the Cilium version and the agent options
of each cluster. A key missing from ``cilium-config`` means the version's default, which is why
options are resolved here against the version rather than read raw.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

#: Options that decide verdicts, with their meaning documented in docs/cilium-semantics.md.
POLICY_DEFAULT_LOCAL_CLUSTER = "policy-default-local-cluster"
ENABLE_POLICY = "enable-policy"
POLICY_AUDIT_MODE = "policy-audit-mode"
CLUSTER_NETWORK_POLICY = "enable-k8s-cluster-network-policy"
"""Whether the agent enforces Kubernetes ClusterNetworkPolicy (1.20, cilium#47227; Helm
``k8sClusterNetworkPolicy.enabled``)."""

ENFORCEMENT_MODES = ("default", "always", "never")
KNOWN_OPTIONS = (
    POLICY_DEFAULT_LOCAL_CLUSTER,
    ENABLE_POLICY,
    POLICY_AUDIT_MODE,
    CLUSTER_NETWORK_POLICY,
)
BOOLEAN_OPTIONS = (POLICY_DEFAULT_LOCAL_CLUSTER, POLICY_AUDIT_MODE, CLUSTER_NETWORK_POLICY)
OPTION_VALUES: Mapping[str, tuple[str, ...]] = {
    POLICY_DEFAULT_LOCAL_CLUSTER: ("true", "false"),
    ENABLE_POLICY: ENFORCEMENT_MODES,
    POLICY_AUDIT_MODE: ("true", "false"),
    CLUSTER_NETWORK_POLICY: ("true", "false"),
}
"""The values each option can be set to (as cilium-config strings)."""

#: The Cilium minor releases whose behaviour the model encodes (docs/cilium-semantics.md).
MODELLED_RELEASES = tuple(Version(f"1.{minor}") for minor in range(16, 21))
MODELLED_RANGE = f"{MODELLED_RELEASES[0]} to {MODELLED_RELEASES[-1]}"


def parse_version(text: str) -> Version:
    """``v1.19.2``, ``1.19`` or ``1.20.0-pre.4`` as a comparable version."""
    try:
        return Version(text.strip().lstrip("vV"))
    except InvalidVersion as exc:
        raise ValueError(f"not a Cilium version: {text!r}") from exc


def release_of(version: Version) -> Version:
    """The minor release of ``version``: 1.19.2 and 1.19.0-pre.1 are both 1.19."""
    return Version(f"{version.major}.{version.minor}")


def is_modelled(version: Version) -> bool:
    return release_of(version) in MODELLED_RELEASES


def option_exists(option: str, version: Version) -> bool:
    """``policy-default-local-cluster`` was introduced in 1.18 (cilium#39338),
    ``enable-k8s-cluster-network-policy`` in 1.20 (cilium#47227)."""
    release = Version(f"{version.major}.{version.minor}")
    if option == POLICY_DEFAULT_LOCAL_CLUSTER:
        return release >= Version("1.18")
    if option == CLUSTER_NETWORK_POLICY:
        return release >= Version("1.20")
    return option in KNOWN_OPTIONS


def option_introduced(option: str) -> str:
    """The release that introduced ``option`` (for messages)."""
    return "1.20" if option == CLUSTER_NETWORK_POLICY else "1.18"


def option_default(option: str, version: Version) -> str | None:
    """The effective value of ``option`` at ``version`` when cilium-config does not set it.

    ``policy-default-local-cluster`` defaults to false in 1.18 (cilium#39338) and to true from
    1.19 (cilium#40609; Documentation/operations/upgrade.rst). Before 1.18 the option does not
    exist and Cilium behaves as with false (remote pods match), so that is its value here: a
    ``when: {policy-default-local-cluster: false}`` holds on 1.17.
    """
    release = Version(f"{version.major}.{version.minor}")
    if option == POLICY_DEFAULT_LOCAL_CLUSTER:
        return "true" if release >= Version("1.19") else "false"
    if option == ENABLE_POLICY:
        return "default"
    if option in (POLICY_AUDIT_MODE, CLUSTER_NETWORK_POLICY):
        return "false"
    return None


def option_values(option: str, version: Version) -> tuple[str, ...]:
    """The values ``option`` can have at ``version``: before 1.18 there is no
    ``policy-default-local-cluster``, and Cilium behaves as with ``false``."""
    if not option_exists(option, version):
        default = option_default(option, version)
        return (default,) if default is not None else ()
    return OPTION_VALUES.get(option, ())


def resolve_options(version: Version, configured: Mapping[str, str]) -> dict[str, str]:
    """The effective values of :data:`KNOWN_OPTIONS`, plus every configured key as given.

    A configured key is kept as given, even one the version does not know (the agent ignores
    unknown keys), so a ``when:`` sees what was set.
    """
    effective = {key: str(value).lower() for key, value in configured.items()}
    for option in KNOWN_OPTIONS:
        if option not in effective:
            default = option_default(option, version)
            if default is not None:
                effective[option] = default
    return effective


@dataclass(frozen=True)
class ClusterFacts:
    """What is known of one cluster of the mesh under test."""

    logical: str
    """The name scenarios use (``cluster1``)."""
    cluster_name: str
    """Cilium's ``cluster-name`` from cilium-config; templates render it."""
    cluster_id: int
    cilium_version: Version
    options: Mapping[str, str] = field(default_factory=dict)
    """Effective agent options, see :func:`resolve_options`."""

    def option_is(self, option: str, value: str) -> bool:
        return self.options.get(option) == value

    @property
    def default_local_cluster(self) -> bool:
        return self.option_is(POLICY_DEFAULT_LOCAL_CLUSTER, "true")

    @property
    def cluster_network_policy(self) -> bool:
        return self.option_is(CLUSTER_NETWORK_POLICY, "true")

    @property
    def enforcement_mode(self) -> str:
        return self.options.get(ENABLE_POLICY, "default")

    @property
    def audit_mode(self) -> bool:
        return self.option_is(POLICY_AUDIT_MODE, "true")

    @cached_property
    def setting(self) -> str:
        """The version and the options that decide this cluster's verdicts, for explanations:
        ``Cilium 1.19, policy-default-local-cluster=true, the version's default``."""
        return describe_setting(self.cilium_version, self.options)


def describe_setting(version: Version, options: Mapping[str, str]) -> str:
    """``Cilium 1.19, policy-default-local-cluster=true, the version's default``: the version,
    ``policy-default-local-cluster`` always (whether set or the version's default), and the
    other known options where they differ from their default."""
    parts = [f"Cilium {version}"]
    local = options.get(
        POLICY_DEFAULT_LOCAL_CLUSTER, option_default(POLICY_DEFAULT_LOCAL_CLUSTER, version)
    )
    if not option_exists(POLICY_DEFAULT_LOCAL_CLUSTER, version):
        parts.append(f"no {POLICY_DEFAULT_LOCAL_CLUSTER} (remote pods match)")
    elif local == option_default(POLICY_DEFAULT_LOCAL_CLUSTER, version):
        parts.append(f"{POLICY_DEFAULT_LOCAL_CLUSTER}={local}, the version's default")
    else:
        parts.append(f"{POLICY_DEFAULT_LOCAL_CLUSTER}={local}, set")
    for option in (ENABLE_POLICY, POLICY_AUDIT_MODE):
        value = options.get(option)
        if value is not None and value != option_default(option, version):
            parts.append(f"{option}={value}")
    return ", ".join(parts)


def mesh_is_mixed(facts: Mapping[str, ClusterFacts]) -> bool:
    """Whether the clusters differ in Cilium release or in an option that decides verdicts."""
    return len({_decisive(cluster) for cluster in facts.values()}) > 1


def _decisive(cluster: ClusterFacts) -> tuple[Version, tuple[str | None, ...]]:
    return (
        release_of(cluster.cilium_version),
        tuple(cluster.options.get(option) for option in KNOWN_OPTIONS),
    )


def mixed_mesh_line(facts: Mapping[str, ClusterFacts]) -> str | None:
    """One line saying how the clusters of a mixed mesh differ; ``None`` when they do not."""
    if not mesh_is_mixed(facts) and len({str(c.cilium_version) for c in facts.values()}) < 2:
        return None
    clusters = "; ".join(f"{name}: {cluster.setting}" for name, cluster in facts.items())
    return f"mixed mesh, each direction is decided with its own cluster's settings: {clusters}"


# ---------------------------------------------------------------------------------------------
# when: conditions


def version_specifier(text: str) -> SpecifierSet:
    """``">=1.19,<1.21"`` or a bare ``"1.19"`` (meaning that minor release)."""
    text = text.strip()
    if text and text[0].isdigit():
        release = parse_version(text)
        text = f">={release.major}.{release.minor},<{release.major}.{release.minor + 1}"
    try:
        return SpecifierSet(text, prereleases=True)
    except InvalidSpecifier as exc:
        raise ValueError(f"not a version range: {text!r} (try '>=1.19' or '1.18')") from exc


def in_range(version: Version, spec: SpecifierSet) -> bool:
    """Whether ``version`` satisfies ``spec``, a pre-release counting as the release it leads
    to (1.20.0-pre.4 is a 1.20, as :func:`release_of` has it), not as below it."""
    return Version(version.base_version) in spec


def canonical_value(value: object) -> str:
    """Condition and option values compare as cilium-config strings (``true``, ``always``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


SOURCE, DESTINATION = "source", "destination"
ROLES = (SOURCE, DESTINATION)
"""``when:`` keys naming the cluster of an expectation's source or destination."""


class ConditionError(ValueError):
    """A ``when:`` that is malformed or can never hold on a modelled mesh."""

    def __init__(self, message: str, key: str | None = None, scope: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        """The key at fault, or ``None`` when it is the combination of keys."""
        self.scope = scope
        """The cluster or role whose mapping holds the fault, or ``None`` for the whole mesh."""

    @property
    def path(self) -> tuple[str, ...]:
        """Where the fault is inside ``when:``: ``(scope, key)``, either part when known."""
        return tuple(part for part in (self.scope, self.key) if part)


@dataclass(frozen=True)
class Condition:
    """A ``when:`` mapping. Top-level facts must hold in every cluster of the mesh; a cluster's
    name, or the role ``source``/``destination``, takes a mapping of facts that must hold in that
    cluster only.

    ``cilium`` takes a version range; any other fact is an agent option and its value.
    """

    cilium: SpecifierSet | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    cilium_text: str = field(default="", compare=False)
    """The range as written (``1.19``), for messages."""
    scoped: Mapping[str, Condition] = field(default_factory=dict)
    """Per cluster name or role: what must hold in that cluster only."""
    roles: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Which cluster each role names, once bound to a probe (:meth:`for_probe`)."""
    pinned: Mapping[str, Condition] = field(default_factory=dict, compare=False)
    """The scenario's ``facts:`` per cluster, which a real mesh must have (:meth:`with_pins`)."""

    def with_pins(self, pins: Mapping[str, Mapping[str, str]]) -> Condition:
        """This condition, also requiring the clusters' pinned facts (``facts:``)."""
        if not pins:
            return self
        pinned = {
            cluster: Condition(
                version_specifier(values["cilium"]) if "cilium" in values else None,
                {key: value for key, value in values.items() if key != "cilium"},
            )
            for cluster, values in pins.items()
        }
        return dataclasses.replace(self, pinned=pinned)

    @classmethod
    def parse(
        cls,
        raw: Mapping[str, object],
        texts: Mapping[str, str] | None = None,
        clusters: Sequence[str] = (),
    ) -> Condition:
        """Check ``raw`` against the facts the plugin models and build the condition.

        ``texts`` holds how a value was written when YAML read it as a number (``1.20``), for the
        message; a value under a cluster or role is keyed ``scope.key``. ``clusters`` are the
        scenario's clusters, which may scope facts besides the roles. Raises
        :class:`ConditionError` for an unknown key, a value the key cannot take, a version that
        is not a string or a range, and a condition no modelled mesh satisfies.
        """
        texts = texts or {}
        scopes = (*clusters, *ROLES)
        flat: dict[str, object] = {}
        scoped: dict[str, Condition] = {}
        for key, value in raw.items():
            if key in scopes:
                if not isinstance(value, Mapping) or not value:
                    raise ConditionError(
                        f"{key}: expected a mapping of facts of that cluster, such as "
                        f"{key}: {{cilium: '>=1.19'}}",
                        str(key),
                    )
                inner = {k: t for k, t in texts.items() if k.startswith(f"{key}.")}
                try:
                    scoped[key] = cls._flat(
                        value, {k.split(".", 1)[1]: t for k, t in inner.items()}, ()
                    )
                except ConditionError as exc:
                    raise ConditionError(f"{key}: {exc}", exc.key, str(key)) from None
            else:
                _check_key(key, scopes)
                flat[key] = value
        condition = cls._flat(flat, texts, scopes)
        text = ", ".join(
            f"{key}={canonical_value(v)}"
            if key not in scoped
            else ", ".join(f"{key}.{k}={canonical_value(x)}" for k, x in _items(v))
            for key, v in raw.items()
        )
        condition = cls(condition.cilium, condition.options, text, condition.cilium_text, scoped)
        for scope, inner_condition in scoped.items():
            impossible = condition._merged(inner_condition, scope).why_never()
            if impossible:
                raise ConditionError(f"{scope}: {impossible}", None, scope)
        return condition

    @classmethod
    def _flat(
        cls, raw: Mapping[str, object], texts: Mapping[str, str], scopes: Sequence[str]
    ) -> Condition:
        for key in raw:
            _check_key(key, scopes)
        cilium = None
        if "cilium" in raw:
            cilium = _cilium_range(raw["cilium"], texts.get("cilium"))
        options = {key: _option_value(key, v) for key, v in raw.items() if key != "cilium"}
        text = ", ".join(f"{key}={canonical_value(v)}" for key, v in raw.items())
        condition = cls(cilium, options, text, str(raw.get("cilium", "")))
        impossible = condition.why_never()
        if impossible:
            raise ConditionError(impossible)
        return condition

    def _merged(self, inner: Condition, scope: str) -> Condition:
        """What must hold in the cluster ``scope``: the mesh-wide facts and its own."""
        for option, wanted in inner.options.items():
            mesh_wide = self.options.get(option)
            if mesh_wide is not None and mesh_wide != wanted:
                raise ConditionError(
                    f"{scope}: can never hold: {option}={mesh_wide} in every cluster and "
                    f"{option}={wanted} in {scope}",
                    option,
                    scope,
                )
        cilium = self.cilium
        if inner.cilium is not None:
            cilium = inner.cilium if cilium is None else cilium & inner.cilium
        written = " and ".join(t for t in (self.cilium_text, inner.cilium_text) if t)
        return Condition(cilium, {**self.options, **inner.options}, inner.text, written)

    def for_probe(self, source: str, destination: str | None) -> Condition:
        """This condition with ``source`` and ``destination`` naming the probe's clusters
        (``destination`` is ``None`` for a Service, whose serving cluster is not fixed)."""
        if not any(role in self.scoped for role in ROLES):
            return self
        roles = {SOURCE: source}
        if destination is not None:
            roles[DESTINATION] = destination
        return dataclasses.replace(self, roles=roles)

    def releases(self) -> list[Version]:
        """The modelled minor releases with a version inside the ``cilium`` range."""
        return [
            release
            for release in MODELLED_RELEASES
            if self.cilium is None
            or any(self.cilium.contains(v) for v in _candidates(release, self.cilium))
        ]

    def why_never(self) -> str | None:
        """Why no modelled version and option values satisfy the condition; ``None`` if some do."""
        releases = self.releases()
        written = repr(self.cilium_text or str(self.cilium))
        if not releases:
            return (
                f"cilium: no modelled Cilium version ({MODELLED_RANGE}) is in the range {written}"
            )
        if any(self._options_possible(release) for release in releases):
            return None
        for option, wanted in self.options.items():
            where = [str(r) for r in MODELLED_RELEASES if wanted in option_values(option, r)]
            if not any(wanted in option_values(option, r) for r in releases):
                return (
                    f"can never hold: {option}={wanted} is possible on Cilium "
                    f"{', '.join(where)} only, and cilium: {written} excludes them"
                )
        return f"can never hold: no modelled Cilium version has {self.text}"

    def _options_possible(self, release: Version) -> bool:
        return all(
            wanted in option_values(option, release) for option, wanted in self.options.items()
        )

    def unmet(self, facts: Mapping[str, ClusterFacts]) -> list[str]:
        """Why the condition does not hold, one entry per failing cluster; empty if it holds."""
        reasons = []
        for logical, cluster in facts.items():
            reasons += self._unmet_in(logical, cluster)
        for scope, inner in self.scoped.items():
            name = self.roles.get(scope) if scope in ROLES else scope
            if name is None:
                reasons.append(f"{scope}: not bound to a cluster")
                continue
            found = facts.get(name)
            if found is None:
                reasons.append(f"the mesh has no cluster {name}")
                continue
            reasons += inner._unmet_in(f"the {scope} {name}" if scope in ROLES else name, found)
        for name, pin in self.pinned.items():
            found = facts.get(name)
            if found is not None:
                reasons += [
                    f"the scenario's facts: pins {reason}" for reason in pin._unmet_in(name, found)
                ]
        return reasons

    def _unmet_in(self, label: str, cluster: ClusterFacts) -> list[str]:
        reasons = []
        if self.cilium is not None and not in_range(cluster.cilium_version, self.cilium):
            reasons.append(f"{label} runs Cilium {cluster.cilium_version}")
        for option, wanted in self.options.items():
            actual = cluster.options.get(option, "<unset>")
            if actual != wanted:
                reasons.append(f"{label} has {option}={actual}")
        return reasons


def _items(value: object) -> list[tuple[str, object]]:
    return list(value.items()) if isinstance(value, Mapping) else []


def _check_key(key: object, scopes: Sequence[str] = ()) -> None:
    known = ["cilium", *KNOWN_OPTIONS]
    if key in known:
        return
    hint = difflib.get_close_matches(str(key), [*known, *scopes], n=1)
    suggestion = f"did you mean {hint[0]!r}? " if hint else ""
    clusters = [scope for scope in scopes if scope not in ROLES]
    where = ""
    if scopes:
        named = f"a cluster ({', '.join(clusters)}), " if clusters else ""
        where = f"; or, holding such facts, {named}{alternatives(ROLES)}"
    raise ConditionError(
        f"unknown fact {key!r} ({suggestion}known: {', '.join(known)}{where})", str(key)
    )


def _cilium_range(value: object, written: str | None) -> SpecifierSet:
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            shown = written or str(value)
            raise ConditionError(
                f"cilium: a version must be a string, but YAML read {shown} as the number "
                f'{value!r}; quote it: cilium: "{shown}"',
                "cilium",
            )
        raise ConditionError(
            f"cilium: a version must be a string such as '1.19' or '>=1.18,<1.20', "
            f"not {canonical_value(value)!r}",
            "cilium",
        )
    try:
        return version_specifier(value)
    except ValueError as exc:
        raise ConditionError(f"cilium: {exc}", "cilium") from None


def _option_value(option: str, value: object) -> str:
    allowed = OPTION_VALUES[option]
    text = canonical_value(value) if isinstance(value, bool | str) else None
    if text in allowed:
        return text
    hint = difflib.get_close_matches(str(text), allowed, n=1) if text else []
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    shown = repr(value) if isinstance(value, str) else canonical_value(value)
    raise ConditionError(f"{option} takes {alternatives(allowed)}, not {shown}{suggestion}", option)


def alternatives(values: Sequence[str]) -> str:
    """``a, b or c``."""
    return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else "".join(values)


def _candidates(release: Version, spec: SpecifierSet) -> list[Version]:
    """Versions of ``release`` worth testing against ``spec``: its first patch, and every
    version the range names in that release with the patch after it."""
    found = [Version(f"{release}.0")]
    for specifier in spec:
        try:
            named = Version(specifier.version.removesuffix(".*"))
        except InvalidVersion:
            continue
        if release_of(named) == release:
            found += [named, Version(f"{named.major}.{named.minor}.{named.micro + 1}")]
    return found


# ---------------------------------------------------------------------------------------------
# settings of a simulated mesh, per cluster


@dataclass(frozen=True)
class SimSettings:
    """The Cilium version and agent options of each simulated cluster.

    ``version`` and ``options`` hold for every cluster; ``cluster_versions`` and
    ``cluster_options`` override them for the clusters they name (an option set for a cluster
    wins over the same option set for all). Options left unset take the cluster's version's
    default (:func:`resolve_options`).
    """

    version: str = "1.19"
    options: Mapping[str, str] = field(default_factory=dict)
    cluster_versions: Mapping[str, str] = field(default_factory=dict)
    cluster_options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def version_of(self, cluster: str) -> str:
        return self.cluster_versions.get(cluster, self.version)

    def options_of(self, cluster: str) -> dict[str, str]:
        """The options configured for ``cluster`` (before defaults)."""
        return {**self.options, **self.cluster_options.get(cluster, {})}

    def facts_of(self, cluster: str, cluster_id: int) -> ClusterFacts:
        """A simulated cluster: its Cilium name is its logical name."""
        version = parse_version(self.version_of(cluster))
        return ClusterFacts(
            cluster,
            cluster,
            cluster_id,
            version,
            resolve_options(version, self.options_of(cluster)),
        )

    @property
    def per_cluster(self) -> bool:
        return bool(self.cluster_versions or self.cluster_options)

    def version_arg(self) -> str:
        """``--sim-cilium-version``'s value that gives these versions: ``1.19,cluster2=1.18``."""
        named = [f"{cluster}={version}" for cluster, version in self.cluster_versions.items()]
        return ",".join([self.version, *named])

    def option_args(self) -> list[str]:
        """``--sim-option`` values that give these options."""
        given = [f"{key}={value}" for key, value in self.options.items()]
        for cluster, options in self.cluster_options.items():
            given += [f"{cluster}:{key}={value}" for key, value in options.items()]
        return given

    def check(self, source: str = "--sim-option") -> None:
        """Every option set for a cluster must exist in that cluster's version."""
        clusters = [None, *self.cluster_versions, *self.cluster_options]
        for cluster in dict.fromkeys(clusters):
            version = parse_version(self.version if cluster is None else self.version_of(cluster))
            options = self.options if cluster is None else self.options_of(cluster)
            for key in options:
                if not option_exists(key, version):
                    where = f" ({cluster})" if cluster else ""
                    raise ValueError(
                        f"{source} {key}: the option does not exist in Cilium {version}{where} "
                        f"(introduced in {option_introduced(key)})"
                    )


def parse_versions(text: str, source: str) -> tuple[str, dict[str, str]]:
    """``1.19`` or ``cluster1=1.18,cluster2=1.19`` (or ``1.19,cluster2=1.18``): the version of
    every cluster (``None`` when not given) and the versions of named clusters. Every version
    must be modelled; raises :class:`ValueError` with a one-line message."""
    default: str | None = None
    named: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        cluster, sep, version = item.rpartition("=")
        cluster, version = cluster.strip(), version.strip()
        if not item or (sep and not cluster) or not version:
            raise ValueError(
                f"{source}: {text!r}: expected VERSION or CLUSTER=VERSION,... "
                "(e.g. 1.19 or cluster1=1.18,cluster2=1.19)"
            )
        _modelled(version, source)
        if not sep:
            if default is not None:
                raise ValueError(
                    f"{source}: two versions for every cluster: {default} and {version}"
                )
            default = version
            continue
        _cluster_name(cluster, source)
        if cluster in named:
            raise ValueError(f"{source} names the cluster {cluster!r} twice")
        named[cluster] = version
    return default or "", named


def parse_option_items(
    items: Sequence[str], source: str
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """``KEY=VALUE`` (every cluster) or ``CLUSTER:KEY=VALUE`` items: the options of every
    cluster and those of named clusters. Raises :class:`ValueError` with a one-line message."""
    every: dict[str, str] = {}
    named: dict[str, dict[str, str]] = {}
    for item in items:
        scope, colon, rest = item.partition(":")
        cluster = scope.strip() if colon else None
        key, sep, value = (rest if colon else item).partition("=")
        key, value = key.strip(), value.strip().lower()
        if not sep or key not in KNOWN_OPTIONS:
            raise ValueError(
                f"{source} {item!r}: expected [CLUSTER:]KEY=VALUE with KEY one of "
                f"{', '.join(KNOWN_OPTIONS)}"
            )
        if cluster is not None:
            _cluster_name(cluster, source)
        if value not in OPTION_VALUES[key]:
            raise ValueError(
                f"{source} {key} takes {alternatives(OPTION_VALUES[key])}, not {value!r}"
            )
        target = every if cluster is None else named.setdefault(cluster, {})
        if key in target and target[key] != value:
            where = f" for {cluster}" if cluster else ""
            raise ValueError(f"{source} {key} is given twice{where}: {target[key]} and {value}")
        target[key] = value
    return every, named


def _modelled(text: str, source: str) -> Version:
    try:
        parsed = parse_version(text)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    if not is_modelled(parsed):
        raise ValueError(f"{source}: the simulated mesh models Cilium {MODELLED_RANGE}, not {text}")
    return parsed


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _cluster_name(name: str, source: str) -> None:
    if not _DNS_LABEL.match(name):
        raise ValueError(
            f"{source}: {name!r} is not a cluster name (lower-case letters, digits, -)"
        )


def parse_pins(
    raw: Mapping[str, object] | None, clusters: Sequence[str]
) -> dict[str, dict[str, str]]:
    """A scenario's ``facts:``: per cluster, ``cilium`` (one version such as ``1.18``) and agent
    options, as cilium-config strings. Raises :class:`ConditionError` (its ``scope`` the cluster)
    for a cluster the scenario lacks, an unknown key, a version outside the model, a bad value,
    or an option the pinned version does not have."""
    pins: dict[str, dict[str, str]] = {}
    for cluster, values in (raw or {}).items():
        if cluster not in clusters:
            hint = difflib.get_close_matches(str(cluster), clusters, n=1)
            suggestion = f"did you mean {hint[0]!r}? " if hint else ""
            raise ConditionError(
                f"no cluster {cluster!r} in the scenario ({suggestion}clusters: "
                f"{', '.join(clusters)})",
                None,
                str(cluster),
            )
        if not isinstance(values, Mapping):
            raise ConditionError("expected a mapping such as {cilium: '1.18'}", None, cluster)
        pin: dict[str, str] = {}
        for key, value in values.items():
            try:
                _check_key(key)
                if key == "cilium":
                    _cilium_range(value, None)
                    if str(value).strip()[:1] in "<>=!~":
                        raise ValueError(f"one version such as '1.18', not the range {value!r}")
                    pin["cilium"] = str(_modelled(str(value), "cilium").public)
                else:
                    pin[key] = _option_value(key, value)
            except ValueError as exc:
                message = str(exc).removeprefix("cilium: ")
                raise ConditionError(
                    message if key != "cilium" else f"cilium: {message}", str(key), cluster
                ) from None
        if "cilium" in pin:
            version = parse_version(pin["cilium"])
            for key in pin:
                if key != "cilium" and not option_exists(key, version):
                    raise ConditionError(
                        f"{key}: the option does not exist in Cilium {version} "
                        f"(introduced in {option_introduced(key)})",
                        key,
                        cluster,
                    )
        pins[cluster] = pin
    return pins
