"""How one batch exec's output becomes one result per probe (``probing._batch_results``), pinned
for mutation testing (docs/mutation.md, group ``probing``): who answered, the L7 deny, the API
server's answers, and the exec failures that are probe errors for every probe of the batch."""

from __future__ import annotations

from pytest_clustermesh.kubernetes.classify import CILIUM_ACCESS_DENIED, echo_text
from pytest_clustermesh.kubernetes.commands import (
    CurlOutput,
    CurlRequest,
    curl_stdout,
    new_marker,
    render_batch_output,
)
from pytest_clustermesh.kubernetes.execs import ExecResult
from pytest_clustermesh.kubernetes.probing import _batch_results
from pytest_clustermesh.verdicts import Outcome

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
