"""The explain command: the model's verdict for a step, with the rules that decided it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_clustermesh.__main__ import main

GUIDE = Path(__file__).resolve().parents[2] / "scenarios" / "guide" / "guide.scenario.yaml"


def test_explain_one_probe_gives_both_directions(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain", str(GUIDE), "--step", "policy-on-cluster1"]
    assert main([*args, "--from", "cluster2/frontend", "--to", "cluster1/myapp"]) == 0
    out = capsys.readouterr().out
    assert "cluster2/frontend->cluster1/myapp:80: dropped" in out
    assert "- egress at cluster2: no policy selects the endpoint" in out
    assert "- ingress at cluster1: default deny" in out


def test_explain_follows_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain", str(GUIDE), "--step", "policy-on-cluster1", "--cilium-version", "1.18"]
    assert main([*args, "--from", "cluster2/frontend", "--to", "cluster1/myapp"]) == 0
    assert "cluster2/frontend->cluster1/myapp:80: allowed served by cluster1" in (
        capsys.readouterr().out
    )


def test_explain_a_whole_step_marks_what_does_not_apply(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", str(GUIDE), "--step", "policy-on-cluster1"]) == 0
    out = capsys.readouterr().out
    assert "cluster1: network-policy.yaml" in out
    assert "cluster1/test->service/myapp-service:80: dropped  (expected: deny)" in out
    assert "(expected: allow, not applicable: when: policy-default-local-cluster=false" in out


def test_explain_reports_mistakes_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(GUIDE), "--step", "nope"]) == 2
    assert "no step 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cilium-version", "1.15"], "models Cilium 1.16 to 1.20, not 1.15"),
        (["--cilium-version", "banana"], "--cilium-version:"),
        (["--option", "enable-policy"], "expected [CLUSTER:]KEY=VALUE"),
        (["--option", "no-such-option=true"], "expected [CLUSTER:]KEY=VALUE"),
    ],
)
def test_explain_rejects_what_it_does_not_model(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["explain", str(GUIDE), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
