"""The model's predictions for every pod pair of a mesh, for one flow, computed per identity pair.

Cilium decides per security identity, not per pod: every pod with the same labels (in the same
cluster) gets the same decisions. So the table is an identity-pair outcome table plus, for
each pod, the index of its identity. For N pods over K identities it costs K x K evaluations
(each cached in the clusters' :class:`~.decide.PolicyIndex`) and K x K + N bytes of
storage, not N x N objects; per-pod views (:meth:`PredictionTable.outcome`,
:meth:`PredictionTable.pairs`, :meth:`PredictionTable.dense`) read through the indexes.

Each pair is decided as :func:`~.decide.decide_flow` does (egress at the source's cluster,
ingress at the destination's); :meth:`PredictionTable.explain` gives that decision, with its
reasons, for one pair on demand.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from ..verdicts import Outcome
from .decide import ClusterPolicy, Decision, Flow, combine, decide_flow
from .labels import Identity

#: The outcomes a prediction can have, in code order (a code is an index into this).
OUTCOMES: tuple[Outcome, ...] = (
    Outcome.ALLOWED,
    Outcome.DROPPED,
    Outcome.L7_DENIED,
    Outcome.PROBE_ERROR,  # the model cannot tell (a feature it does not cover decides)
)
_CODE = {outcome: code for code, outcome in enumerate(OUTCOMES)}


@dataclass(frozen=True)
class Endpoint:
    """A pod as the pair table sees it: a unique name, its cluster and its identity."""

    name: str
    cluster: str
    identity: Identity


class PredictionTable:
    """Verdicts for every (source pod, destination pod) of a set of endpoints, for one flow.

    Build it with :func:`prediction_table`. Pods are addressed by name or by position (the
    order the endpoints were given in).
    """

    def __init__(
        self,
        policies: Mapping[str, ClusterPolicy],
        endpoints: Sequence[Endpoint],
        flow: Flow,
        slots: list[tuple[str, Identity]],
        slot_of: array[int],
        table: bytearray,
    ) -> None:
        self.flow = flow
        self.endpoints: tuple[Endpoint, ...] = tuple(endpoints)
        self._policies = dict(policies)
        self._slots = slots
        self._slot_of = slot_of
        self._table = table
        self._position = {ep.name: i for i, ep in enumerate(self.endpoints)}
        if len(self._position) != len(self.endpoints):
            raise ValueError("endpoint names must be unique")
        self._slot_counts = [0] * len(slots)
        for slot in slot_of:
            self._slot_counts[slot] += 1

    def __len__(self) -> int:
        """The number of pod pairs."""
        return len(self.endpoints) ** 2

    @property
    def identities(self) -> int:
        """Distinct (cluster, identity) slots among the endpoints."""
        return len(self._slots)

    @property
    def identity_pairs(self) -> int:
        """Identity pairs decided: the size of the outcome table."""
        return len(self._slots) ** 2

    def outcome(self, source: str, dest: str) -> Outcome:
        """The predicted outcome for ``source`` -> ``dest`` (pod names)."""
        return self.outcome_at(self._position[source], self._position[dest])

    def outcome_at(self, source: int, dest: int) -> Outcome:
        """The predicted outcome for the pods at positions ``source`` and ``dest``."""
        n = len(self._slots)
        return OUTCOMES[self._table[self._slot_of[source] * n + self._slot_of[dest]]]

    def counts(self) -> dict[Outcome, int]:
        """How many pod pairs get each outcome (every outcome listed, zeros included;
        PROBE_ERROR counts the pairs the model cannot tell)."""
        totals = [0] * len(OUTCOMES)
        n = len(self._slots)
        counts = self._slot_counts
        for s in range(n):
            row = self._table[s * n : (s + 1) * n]
            weight = counts[s]
            for d in range(n):
                totals[row[d]] += weight * counts[d]
        return dict(zip(OUTCOMES, totals, strict=True))

    def pairs(self, only: Outcome | None = None) -> Iterator[tuple[str, str, Outcome]]:
        """Every (source, destination, outcome), sources in order, lazily; ``only`` filters."""
        n = len(self._slots)
        names = [ep.name for ep in self.endpoints]
        slot_of = self._slot_of
        wanted = None if only is None else _CODE[only]
        for i, source in enumerate(names):
            base = slot_of[i] * n
            row = self._table[base : base + n]
            for j, dest in enumerate(names):
                code = row[slot_of[j]]
                if wanted is None or code == wanted:
                    yield source, dest, OUTCOMES[code]

    __iter__ = pairs

    def dense(self) -> bytes:
        """All pod pairs as outcome codes (indexes into :data:`OUTCOMES`), row-major: byte
        ``i * len(endpoints) + j`` is the predicted outcome for pod ``i`` -> pod ``j``. One
        object of N x N bytes; rows of pods sharing an identity are built once."""
        n = len(self._slots)
        dest_slots = self._slot_of.tolist()
        rows: dict[int, bytes] = {}
        for s in set(dest_slots):
            table_row = self._table[s * n : (s + 1) * n]
            rows[s] = bytes(map(table_row.__getitem__, dest_slots))
        return b"".join([rows[s] for s in dest_slots])

    def explain(self, source: str, dest: str) -> Decision:
        """The full decision for one pair, reasons included (computed now, then cached)."""
        src = self.endpoints[self._position[source]]
        dst = self.endpoints[self._position[dest]]
        return decide_flow(
            self._policies[src.cluster],
            src.identity,
            self._policies[dst.cluster],
            dst.identity,
            self.flow,
        )


def prediction_table(
    policies: Mapping[str, ClusterPolicy], endpoints: Sequence[Endpoint], flow: Flow
) -> PredictionTable:
    """The predicted outcome of every pod pair among ``endpoints`` for ``flow``.

    ``policies`` maps each endpoint's cluster to that cluster's policy state. The source's
    egress is decided by its cluster's agent, the destination's ingress by its own, each once
    per distinct pair of identities.
    """
    missing = sorted({ep.cluster for ep in endpoints} - set(policies))
    if missing:
        raise KeyError(f"no policy state for cluster(s) {', '.join(missing)}")
    slot_ids: dict[tuple[str, Identity], int] = {}
    slot_of = array("I")
    for ep in endpoints:
        slot_of.append(slot_ids.setdefault((ep.cluster, ep.identity), len(slot_ids)))
    slots = list(slot_ids)
    n = len(slots)
    clusters = sorted({cluster for cluster, _ in slots})
    indexes = {cluster: policies[cluster].index for cluster in clusters}
    # How each cluster's agent sees every identity as a peer.
    classes = {
        cluster: [indexes[cluster].peer_class(identity) for _, identity in slots]
        for cluster in clusters
    }
    selections = [indexes[cluster].selection(identity) for cluster, identity in slots]
    # egress[s][d]: the source cluster's egress decision; ingress[d][s]: the destination's.
    egress = [
        indexes[cluster].outcomes("egress", selections[s], classes[cluster], flow)
        for s, (cluster, _) in enumerate(slots)
    ]
    ingress = [
        indexes[cluster].outcomes("ingress", selections[d], classes[cluster], flow)
        for d, (cluster, _) in enumerate(slots)
    ]
    both = {(e, i): _CODE[combine(e, i)] for e in OUTCOMES for i in OUTCOMES}
    table = bytearray(n * n)
    for s in range(n):
        row = egress[s]
        base = s * n
        for d in range(n):
            table[base + d] = both[row[d], ingress[d][s]]
    return PredictionTable(policies, endpoints, flow, slots, slot_of, table)
