"""What a probe observed, what backs it, and what an expectation accepts.

An :class:`Outcome` is what one connection attempt did, as a client sees it; a :class:`Verdict`
is what a scenario expects. ``deny`` accepts both ways Cilium denies (a silent drop at L3/L4 and
an HTTP 403 from the L7 proxy); it never accepts a probe that could not run.

A drop is a deny only when something says the drop was Cilium's policy: an :class:`Evidence`
of it. A timeout alone cannot tell a policy drop from a path that is down (a broken tunnel, a
partitioned cluster pair): on a real mesh Hubble's flow record of the drop says which, and on
the simulated mesh the model decided the drop itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Outcome(enum.Enum):
    """The observed result of one probe."""

    ALLOWED = "allowed"
    """The server answered."""
    DROPPED = "dropped"
    """The connection timed out: Cilium drops denied packets silently (curl exit 28)."""
    L7_DENIED = "l7-denied"
    """The L7 proxy answered HTTP 403 "Access denied"."""
    REFUSED = "refused"
    """The packet was allowed but nothing listened (TCP RST, curl exit 7)."""
    DNS_FAILURE = "dns-failure"
    """The target name did not resolve: the probe says nothing about policy."""
    PROBE_ERROR = "probe-error"
    """The probe could not run (exec failed, tool missing, pod gone)."""

    @property
    def is_error(self) -> bool:
        """True when the probe proves nothing about the policy."""
        return self in (Outcome.DNS_FAILURE, Outcome.PROBE_ERROR)

    @property
    def symbol(self) -> str:
        """One character for truth tables."""
        return _SYMBOLS[self]


_SYMBOLS = {
    Outcome.ALLOWED: ".",
    Outcome.DROPPED: "X",
    Outcome.L7_DENIED: "7",
    Outcome.REFUSED: "R",
    Outcome.DNS_FAILURE: "?",
    Outcome.PROBE_ERROR: "!",
}


class Verdict(enum.Enum):
    """What an expectation asks for."""

    ALLOW = "allow"
    DENY = "deny"
    """Denied by policy, either way: dropped or L7-denied."""
    DROP = "drop"
    L7_DENY = "l7-deny"
    REFUSED = "refused"

    def accepts(self, outcome: Outcome) -> bool:
        return outcome in _ACCEPTS[self]

    @classmethod
    def of(cls, outcome: Outcome) -> Verdict:
        """The most specific verdict an outcome satisfies (for reports and matrix steps)."""
        if outcome.is_error:
            raise ValueError(f"{outcome.value} is not a verdict")
        return _OF[outcome]


_ACCEPTS: dict[Verdict, frozenset[Outcome]] = {
    Verdict.ALLOW: frozenset({Outcome.ALLOWED}),
    Verdict.DENY: frozenset({Outcome.DROPPED, Outcome.L7_DENIED}),
    Verdict.DROP: frozenset({Outcome.DROPPED}),
    Verdict.L7_DENY: frozenset({Outcome.L7_DENIED}),
    Verdict.REFUSED: frozenset({Outcome.REFUSED}),
}
_OF = {
    Outcome.ALLOWED: Verdict.ALLOW,
    Outcome.DROPPED: Verdict.DROP,
    Outcome.L7_DENIED: Verdict.L7_DENY,
    Outcome.REFUSED: Verdict.REFUSED,
}


class Proof(enum.Enum):
    """How strongly a drop is known to be Cilium's policy."""

    PROVEN = "proven"
    """Cilium said so: Hubble recorded a policy drop, or the model (which is the mesh) decided."""
    INFERRED = "inferred"
    """Taken as a policy drop from a timeout alone, because the user asked for it
    (``--deny-evidence=timeout``) where Hubble cannot be read."""


@dataclass(frozen=True)
class Evidence:
    """What backs a drop's reading as a policy deny."""

    proof: Proof
    source: str
    """``hubble``, ``model`` or ``timeout``."""
    reason: str = ""
    """Hubble's drop reason (``POLICY_DENIED``, ``POLICY_DENY``...), or why it is inferred."""
    policies: tuple[str, ...] = ()
    """The policies Hubble names as having denied the flow (``CiliumNetworkPolicy ns/name``)."""
    where: str = ""
    """Where it was seen: the node whose agent recorded the drop."""

    def __str__(self) -> str:
        text = f"{self.proof.value} by {self.source}"
        if self.reason:
            text += f": {self.reason}"
        if self.where:
            text += f" at {self.where}"
        if self.policies:
            text += f", denied by {', '.join(self.policies)}"
        return text


MODEL_EVIDENCE = Evidence(Proof.PROVEN, "model", "the model decided the drop")
"""The simulated mesh's drops: the model is the mesh, so its decision is the proof."""


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe, with what is needed to understand and repeat it."""

    outcome: Outcome
    served_by: frozenset[str] = frozenset()
    """Logical clusters whose backend answered (several only when a model cannot tell which)."""
    served_pod: str | None = None
    attempts: int = 1
    detail: str = ""
    """The probe's raw output or the reason it failed."""
    command: str | None = None
    """A shell command that repeats the probe by hand, where there is one."""
    explanation: tuple[str, ...] = field(default_factory=tuple)
    """Why the deciding model decided so, one line a reason (simulated mesh)."""
    evidence: Evidence | None = None
    """For a drop: what says it was a policy drop. ``None``: nothing does."""


def unproven_drop(result: ProbeResult) -> str | None:
    """Why ``result``, a drop, cannot count as a deny; ``None`` when it can (or is no drop)."""
    if result.outcome is not Outcome.DROPPED:
        return None
    if result.evidence is None:
        return (
            "the probe timed out, but nothing shows that Cilium's policy dropped it (a path "
            "that is down times out the same way), so it is not a deny"
        )
    return None
