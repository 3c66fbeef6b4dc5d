"""Policy references: files stay inside the scenario's folder (or a policy root named in the ini
file), a name that is neither defined nor a file says which, and a policy the model rejects is
located in its own file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_clustermesh.errors import ScenarioError
from pytest_clustermesh.scenario import expand_scenario, load_scenario
from pytest_clustermesh.yamlmarks import load_text

from .cases import GOOD, POLICY, POLICY_FILE, SCENARIO, Case, policy

OUTSIDE = "common/allow.yaml"


def _ref(id: str, ref: str, *expect: str, tail: str = "", **kwargs: object) -> Case:
    """The good scenario naming the policy ``ref`` (and ``tail`` appended), with a policy file
    outside its folder."""
    files = {
        SCENARIO: GOOD.replace("[policy.yaml]", f"[{ref}]") + tail,
        POLICY_FILE: POLICY,
        OUTSIDE: POLICY,
        "suite/rules/.keep": "",
    }
    return Case(id, expect, files, **kwargs)  # type: ignore[arg-type]


LEAVES = "policy files must be in the scenario's folder */suite (set clustermesh_policy_root*"

CASES = [
    _ref(
        "dot-dot-leaves-the-folder",
        "../common/allow.yaml",
        f"*bad.scenario.yaml:11: policy file '../common/allow.yaml' leads out of the allowed "
        f"folders with '..'; {LEAVES}",
    ),
    _ref(
        "absolute-path",
        "{path}/common/allow.yaml",
        f"*bad.scenario.yaml:11: policy file '*/common/allow.yaml' is an absolute path outside "
        f"the allowed folders; {LEAVES}",
    ),
    _ref(
        "symlink-pointing-out",
        "link.yaml",
        "*bad.scenario.yaml:11: policy file 'link.yaml' is a symbolic link to */common/allow.yaml,"
        f" outside the allowed folders; {LEAVES}",
        links={"suite/link.yaml": OUTSIDE},
    ),
    _ref(
        "a-folder",
        "rules",
        "*bad.scenario.yaml:11: 'rules' is a folder, not a policy file",
    ),
    _ref(
        "file-not-found",
        "polcy.yaml",
        "*bad.scenario.yaml:11: policy file 'polcy.yaml' not found in */suite "
        "(did you mean 'policy.yaml'?)",
    ),
    _ref(
        "undefined-name-without-file",
        "deny-all",
        "*bad.scenario.yaml:11: policy 'deny-all' is not defined under policies (the scenario "
        "defines none); to name a file, give its path with its .yaml suffix",
    ),
    _ref(
        "named-policy-whose-file-is-missing",
        "deny-all",
        "*bad.scenario.yaml:15: policy file 'deny-all.yaml' not found in */suite",
        tail="policies:\n  deny-all: {file: deny-all.yaml}\n",
    ),
    _ref(
        "misspelled-policy-name",
        "deny-al",
        "*bad.scenario.yaml:11: policy 'deny-al' is not defined under policies (did you mean "
        "'deny-all'? defined: deny-all)*",
        tail="policies:\n  deny-all: {file: policy.yaml}\n",
    ),
    # A Kubernetes NetworkPolicy whose policyTypes is misspelled: said once, at its line.
    policy(
        "policy-types-misspelled",
        POLICY,
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k}\nspec:\n"
        "  policyTypes: [Ingres]\n  podSelector: {}\n",
        "*policy.yaml:5: spec.policyTypes: unknown policy type 'Ingres' (did you mean 'Ingress'?)*",
    ),
    policy(
        "unknown-policy-field",
        "    - fromEndpoints:",
        "    - fromEndpoint:",
        "*policy.yaml:8: spec.ingress[[]0[]].fromEndpoint: unknown field 'fromEndpoint'*",
    ),
    policy(
        "unknown-template",
        "{app: frontend}",
        "{app: '{{ cluster }}'}",
        "*policy.yaml:8: unknown template {{ cluster }} (use namespace, namespaces.<key> or "
        "clusters.<name>.name)",
    ),
    policy(
        "policy-not-a-mapping",
        POLICY,
        "- just a list\n",
        "*policy.yaml:1: a policy document must be a mapping",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_bad_policy_reference_says_where_and_why(
    run_case: Callable[[Case], pytest.RunResult], case: Case
) -> None:
    result = run_case(case)
    assert "policyTypes: policyTypes" not in result.stdout.str()


def test_a_policy_root_in_the_ini_file_admits_a_shared_folder(
    run_case: Callable[[Case], pytest.RunResult],
) -> None:
    case = _ref(
        "policy-root",
        "../common/allow.yaml",
        "*1 passed*",
        ini="clustermesh_policy_root = common",
        exit=pytest.ExitCode.OK,
    )
    run_case(case)


def test_a_policy_root_that_does_not_exist_is_a_usage_error(
    run_case: Callable[[Case], pytest.RunResult],
) -> None:
    case = _ref(
        "policy-root-missing",
        "policy.yaml",
        "ERROR: clustermesh_policy_root: */nowhere does not exist",
        ini="clustermesh_policy_root = nowhere",
        exit=pytest.ExitCode.USAGE_ERROR,
    )
    run_case(case)


def test_a_symlink_that_stays_inside_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real.yaml").write_text(POLICY)
    (tmp_path / "alias.yaml").symlink_to(tmp_path / "real.yaml")
    (tmp_path / "ok.scenario.yaml").write_text(GOOD.replace("policy.yaml", "alias.yaml"))
    assert load_scenario(tmp_path / "ok.scenario.yaml").policies["alias.yaml"].documents


def test_the_loader_takes_policy_roots(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "allow.yaml").write_text(POLICY)
    (tmp_path / "suite").mkdir()
    path = tmp_path / "suite" / "ok.scenario.yaml"
    path.write_text(GOOD.replace("policy.yaml", "../common/allow.yaml"))
    with pytest.raises(ScenarioError, match="leads out of the allowed folders"):
        load_scenario(path)
    scenario = load_scenario(path, policy_roots=[tmp_path / "common"])
    assert scenario.policies["../common/allow.yaml"].locations[0].path == (
        tmp_path / "common" / "allow.yaml"
    )


def test_a_scenario_built_by_a_python_test_may_name_any_file(tmp_path: Path) -> None:
    """The ``mesh`` fixture's scenarios come from test code, which can read any file anyway."""
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "allow.yaml").write_text(POLICY)
    (data,) = load_text(
        GOOD.replace("policy.yaml", str(tmp_path / "common" / "allow.yaml")), tmp_path / "x.yaml"
    )
    scenario = expand_scenario(data, tmp_path / "tests" / "test_x.py")
    assert len(scenario.policies) == 1
