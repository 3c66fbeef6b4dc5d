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


# -- s16: why a ping was or was not admitted -----------------------------------------------------


def _ping_reasons(spec: dict[str, object], source: str = "c1/fe") -> tuple[str, str]:
    from ..meshworld import cnp, mesh, probe

    sim, deployment = mesh("1.19", policies={"c1": [cnp(spec)]})
    result = probe(sim, deployment, source, "c1/be", 0, protocol="ICMP")
    return result.outcome.value, "\n".join(result.explanation)


BE = {"matchLabels": {"app": "backend"}}
FE = [{"matchLabels": {"app": "frontend"}}]


def test_a_ping_blocked_by_an_l4_rule_says_so() -> None:
    """language.rst, 'Limit ingress/egress ports': once an L4 rule applies, ICMP is blocked."""
    outcome, text = _ping_reasons(
        {
            "endpointSelector": BE,
            "ingress": [{"fromEndpoints": FE, "toPorts": [{"ports": [{"port": "8080"}]}]}],
        }
    )
    assert outcome == "dropped"
    assert "no rule allows" in text and "on ICMP echo request (type 8)" in text
    assert "ICMP echo request (type 8) is not among its ports (8080/ANY)" in text
    assert "once an L4 rule applies, ICMP that no icmps lists is blocked" in text


def test_a_ping_admitted_by_an_l3_only_entry_says_why() -> None:
    outcome, text = _ping_reasons({"endpointSelector": BE, "ingress": [{"fromEndpoints": FE}]})
    assert outcome == "allowed"
    assert "allowed by CNP demo/p spec ingress[0]" in text
    assert "an entry with no toPorts or icmps admits every protocol, ICMP included" in text


def test_a_ping_admitted_by_icmps_names_the_type() -> None:
    outcome, text = _ping_reasons(
        {
            "endpointSelector": BE,
            "ingress": [{"fromEndpoints": FE, "icmps": [{"fields": [{"type": "EchoRequest"}]}]}],
        }
    )
    assert outcome == "allowed"
    assert "its icmps lists ICMP type 8" in text


def test_a_ping_icmps_does_not_list_names_what_it_lists() -> None:
    outcome, text = _ping_reasons(
        {
            "endpointSelector": BE,
            "ingress": [
                {"fromEndpoints": FE, "icmps": [{"fields": [{"type": 8, "family": "IPv6"}]}]}
            ],
        }
    )
    assert outcome == "dropped"
    assert "its icmps lists ICMPv6 type 8, not ICMP echo request (type 8)" in text


EGRESS = GUIDE.parents[1] / "egress" / "egress.scenario.yaml"


def test_explain_a_ping_asked_for_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    # The step has no ping from cluster2 to cluster1/myapp: --protocol ICMP asks for one.
    args = ["explain", str(EGRESS), "--step", "ports-block-ping", "--from", "cluster1/frontend"]
    assert main([*args, "--to", "cluster1/myapp", "--protocol", "icmp"]) == 0
    out = capsys.readouterr().out
    assert "cluster1/frontend->cluster1/myapp:icmp: dropped" in out
    assert "/ICMP" not in out  # the probe's text already says icmp


def test_explain_an_external_without_an_expectation_needs_a_port(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = tmp_path / "x.scenario.yaml"
    scenario.write_text(
        "clusters: [cluster1]\n"
        "workloads: {frontend: {role: client}, myapp: {role: server, port: 80}}\n"
        "externals: {api: {address: 198.51.100.20}}\n"
        "steps: [{name: s, expect: [{from: cluster1/frontend, to: cluster1/myapp, "
        "verdict: allow}]}]\n"
    )
    args = ["explain", str(scenario), "--from", "cluster1/frontend", "--to", "external/api"]
    assert main(args) == 2
    assert "external/api has no server workload: give --port" in capsys.readouterr().err
    assert main([*args, "--port", "8443"]) == 0
    assert "cluster1/frontend->external/api:8443: allowed" in capsys.readouterr().out


def test_explain_a_ping_takes_no_port(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain", str(EGRESS), "--step", "no-policy", "--from", "cluster1/frontend"]
    assert main([*args, "--to", "cluster1/myapp", "--protocol", "ICMP", "--port", "80"]) == 2
    assert "a ping (--protocol ICMP) has no --port or --path" in capsys.readouterr().err
