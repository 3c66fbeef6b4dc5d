"""The Cilium policy model: identities, rules, verdicts and global Services.

Pure Python, no pytest, no Kubernetes client: the simulated mesh and the oracle share it.
"""

from .decide import ClusterPolicy, Decision, Flow, decide_direction, decide_flow
from .labels import Identity, Selector, pod_identity
from .parse import ClusterContext, InvalidPolicy
from .tiers import parse_document

__all__ = [
    "ClusterContext",
    "ClusterPolicy",
    "Decision",
    "Flow",
    "Identity",
    "InvalidPolicy",
    "Selector",
    "decide_direction",
    "decide_flow",
    "parse_document",
    "pod_identity",
]
