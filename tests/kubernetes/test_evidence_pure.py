"""Reading Cilium's evidence, without a server: Hubble's flows, an agent's status, a revision,
and how the runner judges a drop by what backs it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_clustermesh.backend import PodTarget, Probe
from pytest_clustermesh.facts import ClusterFacts, parse_version
from pytest_clustermesh.kubernetes import hubble, meshhealth, revisions
from pytest_clustermesh.kubernetes.agents import Agent, AgentShell
from pytest_clustermesh.kubernetes.evidence import _judge
from pytest_clustermesh.kubernetes.execs import ExecResult
from pytest_clustermesh.kubernetes.probing import Attempt, _final
from pytest_clustermesh.runner import Judgement, describe_failure, judge
from pytest_clustermesh.scenario import Case, expand_scenario
from pytest_clustermesh.verdicts import (
    MODEL_EVIDENCE,
    Evidence,
    Outcome,
    ProbeResult,
    Proof,
    Verdict,
)

# A line of `hubble observe -o json` (a GetFlowsResponse), with the field names of
# api/v1/flow/flow.proto, for an ingress drop by a deny rule.
DENY_LINE = json.dumps(
    {
        "flow": {
            "time": "2026-05-04T10:11:12.123456789Z",
            "verdict": "DROPPED",
            "drop_reason": 181,
            "IP": {"source": "10.2.0.5", "destination": "10.1.0.9", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": 41000, "destination_port": 8080, "flags": {"SYN": True}}},
            "source": {"identity": 12345, "namespace": "demo", "pod_name": "fe-1"},
            "destination": {"ID": 7, "identity": 23456, "namespace": "demo", "pod_name": "be-1"},
            "Type": "L3_L4",
            "node_name": "cluster1/cluster1-worker",
            "event_type": {"type": 5},
            "traffic_direction": "INGRESS",
            "drop_reason_desc": "POLICY_DENY",
            "ingress_denied_by": [
                {
                    "name": "deny",
                    "namespace": "demo",
                    "kind": "CiliumNetworkPolicy",
                    "revision": "4",
                }
            ],
        },
        "node_name": "cluster1/cluster1-worker",
        "time": "2026-05-04T10:11:12.123456789Z",
    }
)
# hubble's legacy JSON: the bare flow, here a drop that is not policy, with the numeric reason.
LEGACY_LINE = json.dumps(
    {
        "time": "2026-05-04T10:11:13Z",
        "verdict": "DROPPED",
        "drop_reason": 160,
        "drop_reason_desc": "NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT",
        "IP": {"source": "10.2.0.5", "destination": "10.1.0.9"},
        "l4": {"TCP": {"destination_port": 8080}},
        "node_name": "cluster2/cluster2-worker",
        "traffic_direction": "EGRESS",
    }
)
STATUS_LINE = json.dumps(
    {"node_status": {"state": "NODE_CONNECTED"}, "time": "2026-05-04T10:11:12Z"}
)


def test_hubble_flows_are_read_with_their_reason_direction_and_policies() -> None:
    deny, broken = hubble.parse_flows("\n".join([DENY_LINE, STATUS_LINE, LEGACY_LINE, ""]))
    assert (deny.reason, deny.direction, deny.node) == (
        "POLICY_DENY", "INGRESS", "cluster1/cluster1-worker"
    )  # fmt: skip
    assert (deny.source_ip, deny.destination_ip, deny.destination_port) == (
        "10.2.0.5", "10.1.0.9", 8080
    )  # fmt: skip
    assert deny.policies == ("CiliumNetworkPolicy demo/deny",)
    assert deny.time == datetime(2026, 5, 4, 10, 11, 12, 123456, UTC)
    assert deny.is_policy and not broken.is_policy
    assert broken.reason == "NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT"
    with pytest.raises(ValueError, match="not a JSON line"):
        hubble.parse_flows("hubble: command not found")


def test_only_the_numeric_reason_still_names_a_policy_drop() -> None:
    line = json.dumps({"verdict": "DROPPED", "drop_reason": 133, "IP": {"source": "a"}})
    [flow] = hubble.parse_flows(line)
    assert flow.reason == "POLICY_DENIED" and flow.is_policy


def test_a_probe_is_matched_to_its_own_drops_only() -> None:
    flows = hubble.parse_flows("\n".join([DENY_LINE, LEGACY_LINE]))
    assert len(hubble.matching(flows, "10.2.0.5", ["10.1.0.9"], 8080)) == 2
    assert hubble.matching(flows, "10.2.0.6", ["10.1.0.9"], 8080) == []
    assert hubble.matching(flows, "10.2.0.5", ["10.1.0.10"], 8080) == []
    assert hubble.matching(flows, "10.2.0.5", ["10.1.0.9"], 80) == []


def test_a_policy_drop_is_proven_and_any_other_drop_is_a_broken_path() -> None:
    deny, broken = hubble.parse_flows("\n".join([DENY_LINE, LEGACY_LINE]))
    proven = _judge([deny])
    assert isinstance(proven, Evidence) and proven.proof is Proof.PROVEN
    assert (proven.reason, proven.policies) == ("POLICY_DENY", ("CiliumNetworkPolicy demo/deny",))
    assert "cluster1/cluster1-worker (ingress)" in str(proven)
    problem = _judge([broken])
    assert isinstance(problem, str) and "NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT" in problem
    assert "not a policy verdict" in problem
    assert _judge([]) is None
    assert isinstance(_judge([broken, deny]), Evidence)  # a policy drop of the probe was seen


def test_the_observe_command_asks_for_drops_of_the_run_since_the_round() -> None:
    since = datetime(2026, 5, 4, 10, 11, 12, 5000, UTC)
    assert hubble.observe_argv(since, ["ns-a", "ns-b"]) == [
        "hubble", "observe", "-o", "json", "--since", "2026-05-04T10:11:12.005000Z",
        "--verdict", "DROPPED", "--namespace", "ns-a", "--namespace", "ns-b",
    ]  # fmt: skip


# -- mesh health -------------------------------------------------------------------------------


def status_text(*remotes: dict[str, object], hubble_state: str = "Ok") -> str:
    return json.dumps(
        {"cluster-mesh": {"clusters": list(remotes)}, "hubble": {"state": hubble_state}}
    )


READY = {"name": "c2", "ready": True, "connected": True, "status": "etcd: 1/1 connected"}
DOWN = {"name": "c2", "ready": False, "connected": False, "status": "context deadline exceeded"}
SYNCING = {
    "name": "c2", "ready": False, "connected": True, "status": "ok",
    "synced": {"nodes": True, "endpoints": False, "identities": True, "services": False},
}  # fmt: skip


def facts(*names: str) -> dict[str, ClusterFacts]:
    version = parse_version("1.18.3")
    return {f"kind-{n}": ClusterFacts(f"kind-{n}", n, i, version) for i, n in enumerate(names, 1)}


def seen(**statuses: str) -> meshhealth.ClusterAgents:
    found = meshhealth.ClusterAgents()
    for pod, text in statuses.items():
        found.statuses[pod] = meshhealth.parse_status(text)
    return found


def test_every_ordered_pair_not_ready_is_one_line_quoting_the_agent() -> None:
    both = facts("c1", "c2")
    c1_ready = seen(a=status_text(READY))
    c2_ready = seen(b=status_text({**READY, "name": "c1"}))
    assert meshhealth.pair_problems(both, {"kind-c1": c1_ready, "kind-c2": c2_ready}) == []
    lines = meshhealth.pair_problems(
        both, {"kind-c1": seen(a=status_text(READY), b=status_text(DOWN)), "kind-c2": seen()}
    )
    assert lines == [
        "kind-c1 -> kind-c2: agent b says c2 is not connected: context deadline exceeded "
        "(1 of 2 agents)"
    ]
    missing = meshhealth.pair_problems(both, {"kind-c2": seen(b=status_text())})
    assert missing == [
        "kind-c2 -> kind-c1: agent b does not list cluster c1 (cilium clustermesh connect?)"
    ]
    syncing = meshhealth.pair_problems(both, {"kind-c1": seen(a=status_text(SYNCING))})
    assert syncing == [
        "kind-c1 -> kind-c2: agent a says c2 is synchronization in progress for endpoints, services"
    ]


def test_a_cluster_whose_agents_cannot_be_read_is_not_judged_unready() -> None:
    unreadable = meshhealth.ClusterAgents(unreadable="forbidden")
    assert meshhealth.pair_problems(facts("c1", "c2"), {"kind-c1": unreadable}) == []
    assert unreadable.hubble_off == "forbidden"
    assert seen(a=status_text(READY, hubble_state="Disabled")).hubble_off == (
        "agent a reports Hubble Disabled"
    )
    assert seen(a=status_text(READY)).hubble_off is None


# -- revisions ---------------------------------------------------------------------------------


class Scripted(AgentShell):
    """An agent shell answering from a script, for parsing tests."""

    def __init__(self, answers: Sequence[ExecResult]) -> None:
        super().__init__(cast(Any, None))
        self._answers = list(answers)
        self.argvs: list[list[str]] = []

    def run(self, agent: Agent, argv: Sequence[str], timeout: float) -> ExecResult:
        self.argvs.append(list(argv))
        return self._answers.pop(0)


AGENT = Agent("kind-c1", "cilium-abc", "node-1")


def test_the_revision_is_read_as_cilium_cli_reads_it_falling_back_to_the_old_cli_name() -> None:
    not_found = ExecResult(126, "", 'exec: "cilium-dbg": executable file not found in $PATH')
    shell = Scripted([not_found, ExecResult(0, "'17'\n")])
    assert revisions.read(shell, AGENT, 5) == 17
    assert shell.argvs == [
        ["cilium-dbg", "policy", "get", "-o", "jsonpath={.revision}"],
        ["cilium", "policy", "get", "-o", "jsonpath={.revision}"],
    ]
    with pytest.raises(revisions.RevisionError, match="not a number"):
        revisions.read(Scripted([ExecResult(0, "Revision: many")]), AGENT, 5)


def test_a_wait_that_times_out_names_the_agent_and_the_revision() -> None:
    failed = ExecResult(1, "", "Error: \n1 endpoints still not ready after 2.0s (0 failed)\n")
    with pytest.raises(revisions.RevisionError) as caught:
        revisions.wait_for(Scripted([failed]), AGENT, 9, 1.5)
    message = str(caught.value)
    assert "agent cilium-abc" in message and "policy revision 9 within 2 s" in message
    assert "1 endpoints still not ready" in message


def test_pending_targets_add_up_and_clear() -> None:
    pending = revisions.Pending()
    pending.add("c1", {AGENT: 5}, 0)
    assert "c1" not in pending
    pending.add("c1", {AGENT: 5}, 2)
    pending.add("c1", {AGENT: 7}, 1)
    assert [t.revision for t in pending.of(["c1", "c2"])["c1"]] == [8]
    pending.done("c1")
    assert pending.of(["c1"]) == {}


# -- attempts count real retries ----------------------------------------------------------------


def attempt(outcome: Outcome, recent: bool = True) -> Attempt:
    return Attempt(ProbeResult(outcome, detail="d"), recent)


def test_a_confirmation_round_is_no_retry() -> None:
    confirmed = _final(Verdict.DENY, [attempt(Outcome.DROPPED), attempt(Outcome.DROPPED)])
    assert confirmed.attempts == 1 and "dropped, dropped (confirmation)" in confirmed.detail
    retried = _final(
        Verdict.DENY,
        [attempt(Outcome.ALLOWED), attempt(Outcome.DROPPED), attempt(Outcome.DROPPED)],
    )
    assert retried.attempts == 2
    assert retried.detail.endswith("allowed, dropped, dropped (confirmation)")


# -- the runner judges a drop by what backs it --------------------------------------------------


SCENARIO = {
    "clusters": ["c1", "c2"],
    "workloads": {
        "fe": {"role": "client", "labels": {"app": "fe"}},
        "be": {"role": "server", "labels": {"app": "be"}, "port": 80},
    },
    "steps": [{"name": "s", "expect": [{"from": "c1/fe", "to": "c2/be", "verdict": "deny"}]}],
}


def case() -> Case:
    return expand_scenario(SCENARIO, Path("x.scenario.yaml")).cases[0]


def test_a_drop_nothing_backs_is_no_deny_and_leaves_the_item_unjudged() -> None:
    bare = ProbeResult(Outcome.DROPPED, detail="curl exit 28")
    passed, problem = judge(Verdict.DENY, None, bare)
    assert not passed and "nothing shows that Cilium's policy dropped it" in problem
    assert judge(Verdict.DENY, None, ProbeResult(Outcome.DROPPED, evidence=MODEL_EVIDENCE)) == (
        True,
        "",
    )
    assert judge(Verdict.ALLOW, None, bare)[1] == "expected allow, observed dropped"
    the_case = case()
    unjudged = Judgement(the_case, Verdict.DENY, bare, None, False, problem)
    assert unjudged.unjudged
    failed = Judgement(the_case, Verdict.ALLOW, bare, None, False, "")
    assert not failed.unjudged


def test_a_failure_shows_the_evidence_and_where_hubble_and_the_model_disagree() -> None:
    evidence = Evidence(Proof.PROVEN, "hubble", "POLICY_DENY", ("CiliumNetworkPolicy demo/other",))
    observed = ProbeResult(Outcome.DROPPED, evidence=evidence)
    model = ProbeResult(
        Outcome.ALLOWED,
        explanation=("ingress at c2: allowed by CNP demo/allow-fe spec.ingress[0]",),
    )
    text = describe_failure(
        case(), Verdict.ALLOW, observed, model, "expected allow, observed dropped"
    )
    assert (
        "evidence: proven by hubble: POLICY_DENY, denied by CiliumNetworkPolicy demo/other" in text
    )
    assert "Hubble names CiliumNetworkPolicy demo/other as denying it" in text
    assert "the mesh and the model disagree" in text
    agreeing = ProbeResult(
        Outcome.DROPPED,
        explanation=("ingress at c2: denied by CNP demo/other spec.ingressDeny[0]",),
    )
    text = describe_failure(case(), Verdict.ALLOW, observed, agreeing, "x")
    assert "Hubble names" not in text
    error = ProbeResult(Outcome.PROBE_ERROR, detail="Hubble recorded no drop")
    assert "disagree" not in describe_failure(case(), Verdict.DENY, error, model, "x")


def test_probe_targets_in_other_clusters_are_what_needs_an_open_path() -> None:
    from pytest_clustermesh.kubernetes.backend import _open_paths

    probe = Probe("c1", "fe", PodTarget("c2", "be"), 80)
    assert _open_paths([probe], [ProbeResult(Outcome.ALLOWED)]) == {("c1", "c2")}
    assert _open_paths([probe], [ProbeResult(Outcome.DROPPED)]) == set()
