"""Facts of a mesh under test, and ``when:`` conditions over them.

Facts are what decides a verdict besides the policies: the Cilium version and the agent options
of each cluster. A key missing from ``cilium-config`` means the version's default, which is why
options are resolved here against the version rather than read raw.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
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
OPTION_VALUES: Mapping[str, tuple[str, ...]] = {
    POLICY_DEFAULT_LOCAL_CLUSTER: ("true", "false"),
    ENABLE_POLICY: ENFORCEMENT_MODES,
    POLICY_AUDIT_MODE: ("true", "false"),
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


class ConditionError(ValueError):
    """A ``when:`` that is malformed or can never hold on a modelled mesh."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        """The key at fault, or ``None`` when it is the combination of keys."""


@dataclass(frozen=True)
class Condition:
    """A ``when:`` mapping: every key must hold in every cluster of the mesh.

    ``cilium`` takes a version range; any other key is an agent option and its value.
    """

    cilium: SpecifierSet | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    cilium_text: str = field(default="", compare=False)
    """The range as written (``1.19``), for messages."""

    @classmethod
    def parse(cls, raw: Mapping[str, object], texts: Mapping[str, str] | None = None) -> Condition:
        """Check ``raw`` against the facts the plugin models and build the condition.

        ``texts`` holds how a value was written when YAML read it as a number (``1.20``), for the
        message. Raises :class:`ConditionError` for an unknown key, a value the key cannot take,
        a version that is not a string or a range, and a condition no modelled mesh satisfies.
        """
        for key in raw:
            _check_key(key)
        cilium = None
        if "cilium" in raw:
            cilium = _cilium_range(raw["cilium"], (texts or {}).get("cilium"))
        options = {key: _option_value(key, v) for key, v in raw.items() if key != "cilium"}
        text = ", ".join(f"{key}={canonical_value(v)}" for key, v in raw.items())
        condition = cls(cilium, options, text, str(raw.get("cilium", "")))
        impossible = condition.why_never()
        if impossible:
            raise ConditionError(impossible)
        return condition

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
            if self.cilium is not None and cluster.cilium_version not in self.cilium:
                reasons.append(f"{logical} runs Cilium {cluster.cilium_version}")
            for option, wanted in self.options.items():
                actual = cluster.options.get(option, "<unset>")
                if actual != wanted:
                    reasons.append(f"{logical} has {option}={actual}")
        return reasons


def _check_key(key: object) -> None:
    known = ["cilium", *KNOWN_OPTIONS]
    if key in known:
        return
    hint = difflib.get_close_matches(str(key), known, n=1)
    suggestion = f"did you mean {hint[0]!r}? " if hint else ""
    raise ConditionError(f"unknown fact {key!r} ({suggestion}known: {', '.join(known)})", str(key))


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
