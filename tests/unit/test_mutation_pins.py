"""Behaviours that mutation testing found unpinned (docs/mutation.md): how clusters are bound to
contexts, what a failure message says, when Hubble and the model disagree, and how cleanup
words an age."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_clustermesh.backend import Deployment, PolicyDoc, Probe
from pytest_clustermesh.errors import BackendError, UsageError
from pytest_clustermesh.facts import ClusterFacts
from pytest_clustermesh.kubernetes.cleanup import Leftover, split_by_age
from pytest_clustermesh.runner import (
    Judgement,
    MeshSession,
    TooFewClusters,
    context_binder,
    describe_failure,
    evidence_note,
    judge,
)
from pytest_clustermesh.scenario import Case, expand_scenario
from pytest_clustermesh.simulated import SimulatedMesh, simulated_facts
from pytest_clustermesh.verdicts import (
    MODEL_EVIDENCE,
    Evidence,
    Outcome,
    ProbeResult,
    Proof,
    Verdict,
)

SCENARIO: dict[str, Any] = {
    "clusters": ["c1", "c2"],
    "workloads": {
        "fe": {"role": "client", "labels": {"app": "fe"}},
        "be": {
            "role": "server",
            "labels": {"app": "be"},
            "port": 80,
            "service": {"name": "be", "annotations": {"service.cilium.io/global": "true"}},
        },
    },
    "steps": [
        {
            "name": "s",
            "matrix": {"from": "c1/fe", "to": "c2/be"},
            "expect": [
                {"from": "c1/fe", "to": "service/be", "verdict": "allow", "served_by": ["c2", "c1"]}
            ],
        }
    ],
}


def cases() -> dict[str, Case]:
    expanded = expand_scenario(SCENARIO, Path("x.scenario.yaml")).cases
    return {"matrix" if c.verdict is None else "pinned": c for c in expanded}


# -- binding clusters to contexts ------------------------------------------------------------------


def test_contexts_bind_in_order_or_by_name() -> None:
    assert context_binder(["a", "b", "c"], {})(["c1", "c2"]) == {"c1": "a", "c2": "b"}
    assert context_binder(["a", "b"], {})(["c1", "c2"]) == {"c1": "a", "c2": "b"}
    named = context_binder([], {"c2": "kind-x", "c1": "kind-y", "c3": "kind-z"})
    assert named(["c1", "c2"]) == {"c1": "kind-y", "c2": "kind-x"}


def test_too_few_contexts_skip_and_a_wrong_name_is_a_usage_error() -> None:
    with pytest.raises(TooFewClusters, match=r"names 3 clusters \(c1, c2, c3\) but .* gives 2"):
        context_binder(["a", "b"], {})(["c1", "c2", "c3"])
    with pytest.raises(TooFewClusters, match="binds c1; the scenario also needs c2, c3"):
        context_binder([], {"c1": "a"})(["c1", "c2", "c3"])
    with pytest.raises(UsageError, match="binds c1, cx; the scenario also needs c2") as caught:
        context_binder([], {"c1": "a", "cx": "b"})(["c1", "c2"])
    assert not isinstance(caught.value, TooFewClusters)


class TeardownMesh(SimulatedMesh):
    """The simulated mesh, recording teardowns; ``broken`` makes each teardown fail."""

    def __init__(self) -> None:
        super().__init__(simulated_facts(["c1", "c2"], "1.19"))
        self.torn_down: list[str] = []
        self.broken = False

    def teardown(self, deployment: Deployment) -> None:
        self.torn_down.append(deployment.key)
        if self.broken:
            raise BackendError(f"{deployment.key} stuck", "c1")
        super().teardown(deployment)


def test_a_session_keeps_one_run_per_scenario_file(tmp_path: Path) -> None:
    backend = TeardownMesh()
    session = MeshSession(backend, "r")
    one = expand_scenario(SCENARIO, tmp_path / "one.scenario.yaml")
    other = expand_scenario(SCENARIO, tmp_path / "other.scenario.yaml")
    run = session.run_for(one)
    assert session.run_for(expand_scenario(SCENARIO, tmp_path / "one.scenario.yaml")) is run
    assert session.run_for(other) is not run
    run.prepare(one.steps[0])
    session.finish(one)
    assert backend.torn_down == [run.deployment.key]
    session.finish(one)  # finished already: nothing to do
    assert backend.torn_down == [run.deployment.key]
    assert session.run_for(one) is not run
    session.close()


def test_closing_a_session_tears_down_every_run_and_reports_each_failure(tmp_path: Path) -> None:
    backend = TeardownMesh()
    session = MeshSession(backend, "r")
    runs = [
        session.run_for(expand_scenario(SCENARIO, tmp_path / f"{n}.scenario.yaml")) for n in "ab"
    ]
    for run in runs:
        run.prepare(run.scenario.steps[0])
    backend.broken = True
    with pytest.raises(BackendError) as caught:
        session.close()
    keys = [run.deployment.key for run in runs]
    assert sorted(backend.torn_down) == sorted(keys)
    message = str(caught.value)
    assert message.startswith("cleanup failed: ")
    each = [str(BackendError(f"{key} stuck", "c1")) for key in keys]
    assert message == "cleanup failed: " + "; ".join(each)


# -- the failure message ---------------------------------------------------------------------------


def test_a_failure_message_says_what_was_expected_observed_and_why() -> None:
    pinned = cases()["pinned"]
    observed = ProbeResult(
        Outcome.ALLOWED,
        served_by=frozenset({"c3"}),
        served_pod="be-7",
        attempts=3,
        detail="HTTP 200",
        command="kubectl exec ...",
    )
    model = ProbeResult(Outcome.DROPPED, explanation=("egress at c1: default deny", "x"))
    problem = "expected an answer from c1 or c2, answered by c3"
    lines = describe_failure(pinned, Verdict.ALLOW, observed, model, problem).split("\n")
    assert lines == [
        f"{pinned.probe} in step s: {problem}",
        "  expected: allow, served by c1 or c2",
        "  observed: allowed (served by c3, pod be-7) after 3 attempts",
        "  detail:   HTTP 200",
        "  model:    dropped",
        "  the mesh and the model disagree: either Cilium or the model is wrong",
        "  why the model decided so:",
        "    - egress at c1: default deny",
        "    - x",
        "  repeat:   kubectl exec ...",
    ]


def test_a_matrix_cells_expectation_is_named_the_models_prediction() -> None:
    matrix = cases()["matrix"]
    observed = ProbeResult(Outcome.DROPPED, served_by=frozenset({"c1", "c2"}))
    text = describe_failure(matrix, Verdict.ALLOW, observed, None, "p")
    lines = text.split("\n")
    assert lines[1] == "  expected: allow (the model's prediction)"
    assert lines[2] == "  observed: dropped (served by c1, c2)"
    assert len(lines) == 3
    twice = ProbeResult(Outcome.DROPPED, attempts=2)
    assert describe_failure(matrix, Verdict.ALLOW, twice, None, "p").split("\n")[2] == (
        "  observed: dropped after 2 attempts"
    )
    alone = ProbeResult(Outcome.REFUSED, explanation=("ingress at c2: allowed",))
    lines = describe_failure(matrix, Verdict.ALLOW, alone, None, "p").split("\n")
    assert lines[2:] == [
        "  observed: refused",
        "  why the model decided so:",
        "    - ingress at c2: allowed",
    ]


# -- Hubble and the model on which policy decided --------------------------------------------------


def test_hubble_naming_a_policy_the_model_does_not_is_noted_once_per_policy() -> None:
    evidence = Evidence(
        Proof.PROVEN,
        "hubble",
        "POLICY_DENY",
        ("CiliumNetworkPolicy demo/deny", "CiliumClusterwideNetworkPolicy wide"),
    )
    dropped = ProbeResult(Outcome.DROPPED, evidence=evidence)
    named = ProbeResult(Outcome.DROPPED, explanation=("ingress: denied by CNP demo/deny",))
    note = evidence_note(dropped, named)
    assert note is not None
    assert note.startswith("Hubble names CiliumClusterwideNetworkPolicy wide as denying it")
    assert note.endswith("Cilium and the model disagree on which policy decided")
    both = ProbeResult(Outcome.DROPPED, explanation=("denied by CNP demo/deny and CCNP wide",))
    assert evidence_note(dropped, both) is None
    neither = ProbeResult(Outcome.DROPPED)
    assert evidence_note(dropped, neither) == (
        "Hubble names CiliumNetworkPolicy demo/deny, CiliumClusterwideNetworkPolicy wide as "
        "denying it, which the model's decision does not name: Cilium and the model disagree "
        "on which policy decided"
    )
    assert evidence_note(dropped, None) is None
    unnamed = ProbeResult(Outcome.DROPPED, evidence=Evidence(Proof.PROVEN, "hubble", "X"))
    assert evidence_note(unnamed, neither) is None
    assert evidence_note(ProbeResult(Outcome.DROPPED), neither) is None


# -- cleanup words ages as the user writes them ----------------------------------------------------

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "words"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(seconds=60), "1m00s"),
        (timedelta(seconds=3599), "59m59s"),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=2, minutes=5), "2h05m"),
        (timedelta(seconds=7201), "2h00m"),
        (timedelta(hours=26), "26h"),
    ],
)
def test_a_skipped_run_says_its_age_and_the_minimum(age: timedelta, words: str) -> None:
    young = Leftover("kind-a", "namespace", "ns", "pr-1", NOW - age)
    minimum = age + timedelta(seconds=1)
    deleted, [line] = split_by_age([young], minimum, NOW)
    assert deleted == []
    assert f"created {words} ago, less than --min-age " in line
    old, none = split_by_age([young], age, NOW)
    assert (old, none) == ([young], [])


def test_evidence_reads_as_one_line_with_everything_it_has() -> None:
    full = Evidence(
        Proof.PROVEN,
        "hubble",
        "POLICY_DENIED",
        ("CiliumNetworkPolicy demo/a", "CiliumNetworkPolicy demo/b"),
        "cluster1/worker",
    )
    assert str(full) == (
        "proven by hubble: POLICY_DENIED at cluster1/worker, denied by "
        "CiliumNetworkPolicy demo/a, CiliumNetworkPolicy demo/b"
    )
    assert str(Evidence(Proof.INFERRED, "timeout")) == "inferred by timeout"


def test_a_case_whose_when_does_not_hold_is_skipped_saying_why(tmp_path: Path) -> None:
    data = {
        **SCENARIO,
        "steps": [
            {
                "name": "s",
                "expect": [
                    {"from": "c1/fe", "to": "c2/be", "verdict": "allow"},
                    {
                        "from": "c2/fe",
                        "to": "c1/be",
                        "verdict": "allow",
                        "when": {"policy-default-local-cluster": False},
                    },
                    {
                        "from": "c2/fe",
                        "to": "c2/be",
                        "verdict": "allow",
                        "when": {"policy-default-local-cluster": True},
                    },
                ],
            }
        ],
    }
    plan = expand_scenario(data, tmp_path / "w.scenario.yaml")
    run = MeshSession(TeardownMesh(), "r").run_for(plan)  # Cilium 1.19: the option is on
    always, unmet, met = plan.cases
    assert run.skip_reason(always) is None
    assert run.skip_reason(met) is None
    reason = run.skip_reason(unmet)
    assert unmet.when is not None and reason is not None
    failing = unmet.when.unmet(run.facts())
    assert len(failing) == 2  # both clusters have the option on
    assert reason == f"when: {unmet.when.text} does not hold ({'; '.join(failing)})"


# -- a backend that is not its own model: bound names, the oracle beside it ----------------------


class RealMesh:
    """A backend that is not the model (as the Kubernetes backend is not), with its own cluster
    names; it answers from a simulated mesh of its own, except for ``tamper``ed probes."""

    name = "real"

    def __init__(self) -> None:
        self.inner = SimulatedMesh(simulated_facts(["kind-1", "kind-2"], "1.19"))
        self.probed: list[str] = []
        self.tamper: dict[str, ProbeResult] = {}
        self.calls: list[str] = []
        self.applied: dict[str, list[PolicyDoc]] = {}
        self.expects: dict[str, Verdict | None] = {}
        self.lose_one = False

    def facts(self) -> Mapping[str, ClusterFacts]:
        return self.inner.facts()

    def deploy(self, deployment: Deployment) -> None:
        self.calls.append(f"deploy {deployment.key}")
        self.inner.deploy(deployment)

    def set_policies(
        self, deployment: Deployment, cluster: str, policies: Sequence[PolicyDoc]
    ) -> None:
        self.applied[cluster] = list(policies)
        self.inner.set_policies(deployment, cluster, policies)

    def probe(self, deployment: Deployment, probes: Sequence[Probe]) -> list[ProbeResult]:
        self.probed += [str(probe) for probe in probes]
        self.expects.update({str(probe): probe.expect for probe in probes})
        answers = self.inner.probe(deployment, probes)
        answers = [self.tamper.get(str(p), a) for p, a in zip(probes, answers, strict=True)]
        return answers[:-1] if self.lose_one else answers

    def teardown(self, deployment: Deployment) -> None:
        self.calls.append(f"teardown {deployment.key}")
        self.inner.teardown(deployment)

    def close(self) -> None:
        self.calls.append("close")
        self.inner.close()


FROM_C2 = {"io.cilium.k8s.policy.cluster": "{{ clusters.c2.name }}"}
DENY_ON_C1: dict[str, Any] = {
    **SCENARIO,
    "workloads": {
        **SCENARIO["workloads"],
        "api": {"role": "server", "labels": {"app": "api"}, "port": 8080},
    },
    "policies": {
        "deny-all": {
            "inline": {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": {"name": "deny-all"},
                "spec": {"endpointSelector": {"matchLabels": {"app": "be"}}, "ingress": [{}]},
            }
        },
        "selects-nobody": {
            "inline": {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": {"name": "selects-nobody"},
                "spec": {
                    "endpointSelector": {"matchLabels": {"app": "nobody"}},
                    "ingress": [{"fromEndpoints": [{"matchLabels": FROM_C2}]}],
                },
            }
        },
    },
    "steps": [
        {
            "name": "s",
            "policies": {"c1": ["deny-all", "selects-nobody"]},
            "matrix": {"from": "c2/fe", "to": ["service/be", "*/api"]},
            "expect": [
                {"from": "c2/fe", "to": "c2/be", "verdict": "allow"},
                {"from": "c2/fe", "to": "c1/be", "verdict": "deny"},
                {"from": "c1/fe", "to": "service/be", "verdict": "allow", "served_by": "c2"},
            ],
        }
    ],
}


def _name(source_cluster: str, target: str) -> str:
    plan = expand_scenario(DENY_ON_C1, Path("real.scenario.yaml"))
    return next(
        case.name
        for case in plan.cases
        if (case.probe.source_cluster, str(case.probe.target)) == (source_cluster, target)
    )


def judged(
    tamper: Mapping[str, ProbeResult] | None = None,
) -> tuple[RealMesh, dict[str, Judgement]]:
    backend = RealMesh()
    session = MeshSession(backend, "r", context_binder(["kind-1", "kind-2"], {}))
    plan = expand_scenario(DENY_ON_C1, Path("real.scenario.yaml"))
    run = session.run_for(plan)
    for case in plan.cases:
        bound = str(run.bind_probe(case.probe))
        if tamper and case.name in tamper:
            backend.tamper[bound] = tamper[case.name]
    by_target = {f"{case.probe.source_cluster}>{case.probe.target}": case for case in plan.cases}
    judgements = {target: run.check(case, plan.cases) for target, case in sorted(by_target.items())}
    session.close()
    return backend, judgements


def test_a_real_backend_is_judged_in_logical_names_beside_the_models_prediction() -> None:
    backend, judgements = judged()
    allowed, denied = judgements["c2>c2/be"], judgements["c2>c1/be"]
    assert allowed.passed and allowed.result.served_by == frozenset({"c2"})
    assert allowed.prediction is not None and allowed.prediction.served_by == {"c2"}
    assert denied.passed and denied.result.outcome is Outcome.DROPPED
    assert denied.prediction is not None and denied.prediction.outcome is Outcome.DROPPED
    assert all(j.facts.keys() == {"c1", "c2"} for j in judgements.values())
    assert backend.probed and all(p.startswith(("kind-1/", "kind-2/")) for p in backend.probed)
    (deployment,) = {call.split()[1] for call in backend.calls if call != "close"}
    assert backend.calls == [f"deploy {deployment}", f"teardown {deployment}", "close"]


def test_a_steps_policies_reach_the_bound_cluster_rendered_with_its_facts() -> None:
    backend, _ = judged()
    assert backend.applied["kind-2"] == []
    names = [doc.name for doc in backend.applied["kind-1"]]
    assert names == ["deny-all", "selects-nobody"]
    rendered = backend.applied["kind-1"][1].body["spec"]["ingress"][0]["fromEndpoints"][0]
    cilium_name = backend.facts()["kind-2"].cluster_name
    assert rendered["matchLabels"] == {"io.cilium.k8s.policy.cluster": cilium_name}


def test_a_cell_the_model_cannot_predict_fails_unprobed() -> None:
    backend, judgements = judged()
    cell = judgements["c2>service/be"]
    assert not cell.passed
    assert cell.message.startswith(f"{cell.case.probe} in step s: the model cannot predict it: ")
    assert "depends on which backend" in cell.message
    assert cell.prediction is cell.result and cell.result.outcome is Outcome.PROBE_ERROR
    unprobed = [p for p in backend.probed if p.startswith("kind-2/") and "service/" in p]
    assert unprobed == [] and len(backend.probed) == len(judgements) - 1
    assert cell.expected is Verdict.ALLOW and cell.case.verdict is None


def test_a_real_mesh_disagreeing_with_the_model_fails_naming_both() -> None:
    plan = expand_scenario(DENY_ON_C1, Path("real.scenario.yaml"))
    pinned = next(case for case in plan.cases if case.name == _name("c2", "c2/be"))
    _, judgements = judged({pinned.name: ProbeResult(Outcome.DROPPED, evidence=MODEL_EVIDENCE)})
    wrong = judgements["c2>c2/be"]
    assert not wrong.passed
    assert wrong.prediction is not None and wrong.prediction.outcome is Outcome.ALLOWED
    assert "expected allow, observed dropped" in wrong.message
    assert "  model:    allowed (served by c2" in wrong.message
    assert "the mesh and the model disagree" in wrong.message
    assert judgements["c2>c1/be"].passed


def test_a_matrix_cell_expects_and_asks_for_what_the_model_predicts() -> None:
    backend, judgements = judged()
    cell = judgements["c2>c1/api"]
    assert cell.case.verdict is None and cell.case is not judgements["c2>c2/api"].case
    assert cell.expected is Verdict.ALLOW and cell.passed and cell.message == ""
    asked = [v for p, v in backend.expects.items() if p.startswith("kind-2/") and "api" in p]
    assert asked == [Verdict.ALLOW, Verdict.ALLOW]
    assert backend.expects[next(p for p in backend.probed if "kind-1/be" in p)] is Verdict.DENY
    _, tampered = judged({_name("c2", "c2/api"): ProbeResult(Outcome.REFUSED)})
    wrong = tampered["c2>c2/api"]
    assert not wrong.passed and wrong.expected is Verdict.ALLOW
    assert "expected allow, observed refused" in wrong.message
    assert "  expected: allow (the model's prediction)" in wrong.message


def test_a_pinned_served_by_is_judged_on_a_real_backend() -> None:
    pinned = _name("c1", "service/be")
    elsewhere = ProbeResult(Outcome.ALLOWED, served_by=frozenset({"kind-1"}))
    _, judgements = judged({pinned: elsewhere})
    wrong = judgements["c1>service/be"]
    assert not wrong.passed
    assert "expected an answer from c2, answered by c1" in wrong.message
    right = ProbeResult(Outcome.ALLOWED, served_by=frozenset({"kind-2"}))
    _, judgements = judged({pinned: right})
    assert judgements["c1>service/be"].passed


def test_a_run_torn_down_is_deployed_again_when_its_scenario_runs_again() -> None:
    backend = RealMesh()
    session = MeshSession(backend, "r", context_binder(["kind-1", "kind-2"], {}))
    plan = expand_scenario(DENY_ON_C1, Path("real.scenario.yaml"))
    run = session.run_for(plan)
    run.prepare(plan.steps[0])
    run.prepare(plan.steps[0])
    run.teardown()
    run.teardown()
    run.prepare(plan.steps[0])
    key = run.deployment.key
    assert backend.calls == [f"deploy {key}", f"teardown {key}", f"deploy {key}"]
    session.close()


def test_an_answer_from_a_cluster_outside_the_binding_keeps_its_name() -> None:
    plan = expand_scenario(DENY_ON_C1, Path("real.scenario.yaml"))
    pinned = next(case for case in plan.cases if case.name == _name("c2", "c2/be"))
    stray = ProbeResult(Outcome.ALLOWED, served_by=frozenset({"kind-9", "kind-2"}))
    _, judgements = judged({pinned.name: stray})
    assert judgements["c2>c2/be"].result.served_by == {"kind-9", "c2"}


def test_each_policy_change_is_logged_per_cluster(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="pytest_clustermesh.runner"):
        judged()
    changes = [r.getMessage() for r in caplog.records if "now has" in r.getMessage()]
    assert sorted(changes) == [
        "real: c1 now has deny-all, selects-nobody",
        "real: c2 now has none",
    ]


def test_an_answer_from_the_wrong_cluster_names_who_answered_and_who_may() -> None:
    may = frozenset({"c2", "c1"})
    nobody = ProbeResult(Outcome.ALLOWED)
    assert judge(Verdict.ALLOW, may, nobody) == (
        False,
        "expected an answer from c1 or c2, answered by nobody",
    )
    others = ProbeResult(Outcome.ALLOWED, served_by=frozenset({"c4", "c3"}))
    assert judge(Verdict.ALLOW, may, others)[1] == (
        "expected an answer from c1 or c2, answered by c3, c4"
    )


def test_a_drop_nothing_backs_says_why_it_is_no_deny() -> None:
    passed, problem = judge(Verdict.DENY, None, ProbeResult(Outcome.DROPPED))
    assert not passed
    assert problem == (
        "the probe timed out, but nothing shows that Cilium's policy dropped it (a path that is "
        "down times out the same way), so it is not a deny"
    )


class LosingMesh(SimulatedMesh):
    """The simulated mesh as its own model, answering one probe fewer than asked."""

    def probe(self, deployment: Deployment, probes: Sequence[Probe]) -> list[ProbeResult]:
        return super().probe(deployment, probes)[:-1]


def test_a_backend_that_loses_a_probe_fails_the_batch_rather_than_misjudge_it() -> None:
    plan = expand_scenario(DENY_ON_C1, Path("real.scenario.yaml"))
    real = RealMesh()
    real.lose_one = True
    own = LosingMesh(simulated_facts(["c1", "c2"], "1.19"))
    for backend, binder in ((real, context_binder(["kind-1", "kind-2"], {})), (own, None)):
        session = MeshSession(backend, "r", binder or context_binder(["c1", "c2"], {}))
        run = session.run_for(plan)
        with pytest.raises(ValueError, match="zip"):
            run.check(plan.cases[0], plan.cases)
        session.close()


def test_a_cell_whose_name_does_not_resolve_says_the_probe_cannot_test_the_policy(
    tmp_path: Path,
) -> None:
    # No rule of fe's egress allows DNS, so its lookup of the external's hostname is dropped and
    # the probe never reaches the address the policy is about (cilium-semantics.md s17).
    no_dns = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "no-dns"},
        "spec": {
            "endpointSelector": {"matchLabels": {"app": "fe"}},
            "egress": [{"toCIDR": ["203.0.113.10/32"]}],
        },
    }
    data = {
        **SCENARIO,
        "externals": {"web": {"address": "203.0.113.10", "hostname": "web.example.net"}},
        "policies": {"no-dns": {"inline": no_dns}},
        "steps": [
            {
                "name": "s",
                "policies": {"c1": ["no-dns"]},
                "matrix": {"from": "c1/fe", "to": "external/web", "port": 443},
            }
        ],
    }
    plan = expand_scenario(data, tmp_path / "dns.scenario.yaml")
    run = MeshSession(TeardownMesh(), "r").run_for(plan)
    (case,) = plan.cases
    judgement = run.check(case, plan.cases)
    assert not judgement.passed and judgement.expected is Verdict.ALLOW
    assert judgement.result.outcome is Outcome.DNS_FAILURE
    assert judgement.message.startswith(
        f"{case.probe} in step s: the probe cannot test the policy: "
    )
