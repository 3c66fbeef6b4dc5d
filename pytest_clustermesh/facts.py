"""Facts of a mesh under test, and ``when:`` conditions over them.

Facts are what decides a verdict besides the policies: the Cilium version and the agent options
of each cluster. A key missing from ``cilium-config`` means the version's default, which is why
options are resolved here against the version rather than read raw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

#: Options that decide verdicts, with their meaning documented in docs/cilium-semantics.md.
POLICY_DEFAULT_LOCAL_CLUSTER = "policy-default-local-cluster"
ENABLE_POLICY = "enable-policy"
POLICY_AUDIT_MODE = "policy-audit-mode"

ENFORCEMENT_MODES = ("default", "always", "never")
KNOWN_OPTIONS = (POLICY_DEFAULT_LOCAL_CLUSTER, ENABLE_POLICY, POLICY_AUDIT_MODE)
BOOLEAN_OPTIONS = (POLICY_DEFAULT_LOCAL_CLUSTER, POLICY_AUDIT_MODE)


def parse_version(text: str) -> Version:
    """``v1.19.2``, ``1.19`` or ``1.20.0-pre.4`` as a comparable version."""
    try:
        return Version(text.strip().lstrip("vV"))
    except InvalidVersion as exc:
        raise ValueError(f"not a Cilium version: {text!r}") from exc


def option_exists(option: str, version: Version) -> bool:
    """``policy-default-local-cluster`` was introduced in 1.18 (cilium#39338)."""
    if option == POLICY_DEFAULT_LOCAL_CLUSTER:
        return Version(f"{version.major}.{version.minor}") >= Version("1.18")
    return option in KNOWN_OPTIONS


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
    if option == POLICY_AUDIT_MODE:
        return "false"
    return None


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
    def enforcement_mode(self) -> str:
        return self.options.get(ENABLE_POLICY, "default")

    @property
    def audit_mode(self) -> bool:
        return self.option_is(POLICY_AUDIT_MODE, "true")


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


def canonical_value(value: object) -> str:
    """Condition and option values compare as cilium-config strings (``true``, ``always``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


@dataclass(frozen=True)
class Condition:
    """A ``when:`` mapping: every key must hold in every cluster of the mesh.

    ``cilium`` takes a version range; any other key is an agent option and its value.
    """

    cilium: SpecifierSet | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    text: str = ""

    @classmethod
    def parse(cls, raw: Mapping[str, object]) -> Condition:
        cilium = raw.get("cilium")
        options = {key: canonical_value(v) for key, v in raw.items() if key != "cilium"}
        text = ", ".join(f"{key}={canonical_value(v)}" for key, v in raw.items())
        return cls(version_specifier(str(cilium)) if cilium is not None else None, options, text)

    def unmet(self, facts: Mapping[str, ClusterFacts]) -> list[str]:
        """Why the condition does not hold, one entry per failing cluster; empty if it holds."""
        reasons = []
        for logical, cluster in facts.items():
            if self.cilium is not None and cluster.cilium_version not in self.cilium:
                reasons.append(f"{logical} runs Cilium {cluster.cilium_version}")
            for option, wanted in self.options.items():
                actual = cluster.options.get(option, "<unset>")
                if actual != wanted:
                    reasons.append(f"{logical} has {option}={actual}")
        return reasons
