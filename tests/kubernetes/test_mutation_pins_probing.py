"""How one batch exec's output becomes one result per probe (``probing._batch_results``), pinned
for mutation testing (docs/mutation.md, group ``probing``): who answered, the L7 deny, the API
server's answers, and the exec failures that are probe errors for every probe of the batch."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from pytest_clustermesh.kubernetes.classify import CILIUM_ACCESS_DENIED, echo_text
from pytest_clustermesh.kubernetes.commands import (
    ConnectRequest,
    CurlOutput,
    CurlRequest,
    curl_stdout,
    new_marker,
    render_batch_output,
)
from pytest_clustermesh.kubernetes.execs import ExecResult
from pytest_clustermesh.kubernetes.probing import (
    Attempt,
    Planned,
    Snapshot,
    TargetRef,
    _again,
    _batch_results,
    _chunks_slowest_first,
    _final,
    _ready,
    _recheck,
)
from pytest_clustermesh.kubernetes.settings import KubernetesSettings
from pytest_clustermesh.verdicts import Evidence, Outcome, ProbeResult, Proof, Verdict

POD = CurlRequest("http://10.1.0.7:8080/")
API = CurlRequest("https://172.18.1.2:6443/version", insecure=True)
FORBIDDEN = '{"kind":"Status","reason":"Forbidden","message":"forbidden: User cannot get path"}'


def test_each_probe_of_a_batch_gets_its_own_result() -> None:
    marker = new_marker()
    outputs = [
        CurlOutput(0, curl_stdout(echo_text("cluster2", "be-7d9"), 200)),
        CurlOutput(0, curl_stdout(CILIUM_ACCESS_DENIED, 403)),
        CurlOutput(0, curl_stdout(FORBIDDEN, 403)),
    ]
    stdout = render_batch_output(outputs, marker)
    results = _batch_results(ExecResult(0, stdout), [POD, POD, API], marker, [False, False, True])
    served, denied, apiserver = results
    assert served.outcome is Outcome.ALLOWED
    assert served.served_by == frozenset({"cluster2"}) and served.served_pod == "be-7d9"
    assert "clustermesh-echo cluster=cluster2 pod=be-7d9" in served.detail
    assert denied.outcome is Outcome.L7_DENIED and denied.served_by == frozenset()
    # The API server's own 403 means the connection was made (only Cilium's is a deny).
    assert apiserver.outcome is Outcome.ALLOWED and apiserver.served_pod is None


def test_without_api_server_flags_a_403_that_is_not_ciliums_is_an_error() -> None:
    marker = new_marker()
    stdout = render_batch_output([CurlOutput(0, curl_stdout(FORBIDDEN, 403))], marker)
    (result,) = _batch_results(ExecResult(0, stdout), [POD], marker)
    assert result.outcome is Outcome.PROBE_ERROR
    assert "not from Cilium's proxy" in result.detail


def test_a_failed_exec_is_an_error_for_every_probe() -> None:
    results = _batch_results(ExecResult(None, error="exec lost"), [POD, POD], new_marker())
    assert [(r.outcome, r.detail) for r in results] == [(Outcome.PROBE_ERROR, "exec lost")] * 2


def test_a_script_that_exits_non_zero_quotes_its_stderr_cut_at_300() -> None:
    stderr = "x" * 400
    results = _batch_results(ExecResult(2, "", stderr), [POD], new_marker())
    assert results[0].outcome is Outcome.PROBE_ERROR
    assert results[0].detail == f"the probe script exited 2: {'x' * 300}"
    (quiet,) = _batch_results(ExecResult(126, "", "  "), [POD], new_marker())
    assert quiet.detail == "the probe script exited 126"


def test_output_of_another_batch_is_an_error_quoting_300_characters() -> None:
    other = render_batch_output([CurlOutput(0, curl_stdout("y" * 400, 200))], new_marker())
    results = _batch_results(ExecResult(0, other), [POD, POD], new_marker())
    assert [r.outcome for r in results] == [Outcome.PROBE_ERROR] * 2
    assert results[0].detail.endswith(f"; output: {other[:300]!r}")


def test_a_udp_probe_of_a_batch_is_read_as_agnhost_connect_not_as_curl() -> None:
    # Each probe's own request says which tool's output this is: agnhost's TIMEOUT prefix is a
    # candidate drop (agnhost connect.go), where curl's reading would find no write-out line.
    marker = new_marker()
    udp = ConnectRequest("10.1.0.7", 53, "UDP")
    stdout = render_batch_output([CurlOutput(1, "", "TIMEOUT: read udp: i/o timeout")], marker)
    (result,) = _batch_results(ExecResult(0, stdout), [udp], marker)
    assert result.outcome is Outcome.DROPPED
    assert result.detail.startswith("agnhost connect --protocol=udp: no answer within 2 s")


# -- rounds: how many, and what an unconfirmed outcome becomes ------------------------------------


def attempt(outcome: Outcome, recent: bool = True, **fields: Any) -> Attempt:
    return Attempt(ProbeResult(outcome, **fields), recent)


def test_an_unconfirmed_accepted_outcome_gets_one_round_beyond_the_attempts_and_no_more() -> None:
    settings = KubernetesSettings(probe_attempts=2)
    allowed, dropped = attempt(Outcome.ALLOWED), attempt(Outcome.DROPPED)
    assert _again(Verdict.DENY, [allowed], settings)  # not the verdict: a retry, 1 of 2
    assert not _again(Verdict.DENY, [dropped, allowed], settings)  # the retries are spent
    assert _again(Verdict.DENY, [allowed, dropped], settings)  # accepted, to be confirmed
    assert not _again(Verdict.DENY, [dropped, allowed, dropped], settings)  # 2 + 1 rounds


def test_an_outcome_that_was_never_confirmed_is_an_error_that_says_why() -> None:
    attempts = [
        attempt(Outcome.DROPPED),
        attempt(Outcome.ALLOWED, served_by=frozenset({"c2"}), served_pod="be-1", detail=""),
    ]
    result = _final(Verdict.ALLOW, attempts)
    assert result.outcome is Outcome.PROBE_ERROR
    assert result.served_by == frozenset() and result.served_pod is None
    assert result.attempts == 2  # the drop was a real retry
    assert result.detail == (
        "allowed was seen right after a policy change (within the policy settle time) and not "
        "confirmed by a following round with the same outcome, so it may predate the policy or "
        "be transient: attempts: dropped, allowed"
    )


def test_an_unconfirmed_drop_keeps_no_evidence_of_the_round_that_saw_it() -> None:
    evidence = Evidence(Proof.PROVEN, "hubble", "POLICY_DENIED")
    attempts = [attempt(Outcome.ALLOWED), attempt(Outcome.DROPPED, evidence=evidence)]
    result = _final(Verdict.DENY, attempts)
    assert result.outcome is Outcome.PROBE_ERROR and result.evidence is None


def test_the_history_alone_is_the_detail_when_the_last_attempt_said_nothing() -> None:
    result = _final(Verdict.DENY, [attempt(Outcome.DROPPED), attempt(Outcome.DROPPED)])
    assert result.detail == "attempts: dropped, dropped (confirmation)"


def test_batches_expecting_denials_start_first_since_each_drop_lasts_a_timeout() -> None:
    def chunk(*verdicts: Verdict) -> list[tuple[int, Any, Any]]:
        return [(i, None, SimpleNamespace(expect=v)) for i, v in enumerate(verdicts)]

    batches: dict[tuple[str, str, str], list[tuple[int, Any, Any]]] = {
        ("c1", "ns", "allows"): chunk(Verdict.ALLOW, Verdict.ALLOW),
        ("c1", "ns", "denies"): chunk(Verdict.DENY, Verdict.DROP),
    }
    first, second = _chunks_slowest_first(batches)
    assert [p.expect for _, _, p in first] == [Verdict.DENY, Verdict.DROP]
    assert [p.expect for _, _, p in second] == [Verdict.ALLOW, Verdict.ALLOW]


# -- the target as listed again after the round ---------------------------------------------------


def pod(ready: bool = True, ip: str | None = "10.1.0.7") -> Any:
    condition = SimpleNamespace(type="Ready", status="True" if ready else "False")
    return SimpleNamespace(
        metadata=SimpleNamespace(name="be-1", uid="u1", deletion_timestamp=None),
        status=SimpleNamespace(pod_ip=ip, conditions=[condition]),
    )


def test_a_pod_without_an_address_is_not_ready_whatever_its_conditions_say() -> None:
    assert _ready(pod())
    assert not _ready(pod(ip=None))


class Listed(Snapshot):
    """A snapshot whose listing of pods is given (no cluster is asked)."""

    def __init__(self, pods: list[Any]) -> None:
        super().__init__({}, cast(Any, SimpleNamespace(key="k")))
        self.listed = pods

    def pods(self, context: str, namespace: str) -> list[Any]:
        return self.listed


POD_TARGET = TargetRef("c1", "pod", "ns", "be-1", "u1", "10.1.0.7")


def test_a_target_pod_gone_from_the_listing_was_deleted_while_the_probe_ran() -> None:
    assert Listed([pod()]).changed(POD_TARGET) is None
    assert Listed([]).changed(POD_TARGET) == (
        "the target pod ns/be-1 (10.1.0.7) in c1 was deleted while the probe ran"
    )


@pytest.mark.parametrize("kind", ["external", "dns", "kube-apiserver"])
def test_targets_outside_the_run_are_not_listed_again(kind: str) -> None:
    # A snapshot of no cluster fails any listing; these targets need none.
    target = TargetRef("c9", kind, "", "example", "", "192.0.2.1")
    assert Snapshot({}, cast(Any, SimpleNamespace(key="k"))).changed(target) is None


def planned(target: TargetRef | None) -> Planned:
    return Planned("c1", "ns", "fe-1", POD, target)


def test_a_target_that_cannot_be_looked_up_makes_the_result_an_error_saying_why() -> None:
    snapshot = Snapshot({}, cast(Any, SimpleNamespace(key="k")))  # knows no cluster c1
    allowed = ProbeResult(Outcome.ALLOWED, served_by=frozenset({"c2"}), detail="ok")
    (result,) = _recheck(snapshot, {0: planned(POD_TARGET)}, {0: allowed}).values()
    assert result.outcome is Outcome.PROBE_ERROR and result.served_by == frozenset()
    assert result.detail == (
        "the mesh has no cluster 'c1', so the probe may have hit a stale address and its "
        "outcome (allowed: ok) proves nothing"
    )


def test_a_result_made_an_error_keeps_nothing_that_would_make_it_read_as_an_answer() -> None:
    snapshot = Snapshot({}, cast(Any, SimpleNamespace(key="k")))
    evidence = Evidence(Proof.PROVEN, "hubble", "POLICY_DENIED")
    results = {
        0: ProbeResult(Outcome.ALLOWED, frozenset({"c2"}), served_pod="be-1", detail="ok"),
        1: ProbeResult(Outcome.DROPPED, evidence=evidence, detail="timeout"),
    }
    answered, dropped = _recheck(
        snapshot, {0: planned(POD_TARGET), 1: planned(POD_TARGET)}, results
    ).values()
    assert (answered.outcome, answered.served_by, answered.served_pod) == (
        Outcome.PROBE_ERROR,
        frozenset(),
        None,
    )
    assert (dropped.outcome, dropped.evidence) == (Outcome.PROBE_ERROR, None)


def test_errors_and_probes_without_a_target_are_not_looked_up_again() -> None:
    snapshot = Snapshot({}, cast(Any, SimpleNamespace(key="k")))  # any lookup would fail
    error = ProbeResult(Outcome.PROBE_ERROR, detail="exec lost")
    allowed = ProbeResult(Outcome.ALLOWED, detail="ok")
    results = {0: error, 1: allowed}
    rechecked = _recheck(snapshot, {0: planned(POD_TARGET), 1: planned(None)}, dict(results))
    assert rechecked == results
