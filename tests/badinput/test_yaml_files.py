"""Malformed YAML, in scenario files and in policy files alike: one guarded loader reads both."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .cases import GOOD, POLICY, POLICY_FILE, SCENARIO, Case, policy, scenario


def _bomb(indent: str) -> str:
    """A billion laughs: nine levels of ten aliases each, a billion nodes once expanded."""
    lines = [f"{indent}l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        aliases = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"{indent}l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def _in_scenario(id: str, content: bytes | str, *expect: str) -> Case:
    return Case(id, expect, {SCENARIO: content, POLICY_FILE: POLICY})


def _in_policy(id: str, content: bytes | str, *expect: str) -> Case:
    return Case(id, expect, {SCENARIO: GOOD, POLICY_FILE: content})


CASES = [
    _in_scenario(
        "recursive-alias",
        GOOD.replace("labels: {app: frontend}", "labels: &l {app: [*l]}"),
        "*bad.scenario.yaml:3: alias *l refers to the node that contains it (recursive)",
    ),
    _in_policy(
        "undefined-alias",
        POLICY.replace("{app: frontend}", "*frontend"),
        "*policy.yaml:8: alias *frontend has no anchor &frontend before it",
    ),
    _in_policy(
        "too-many-aliases",
        POLICY + "x: &one 1\ny: [" + ", ".join(["*one"] * 1001) + "]\n",
        "*policy.yaml:10: more than 1000 aliases in one file",
    ),
    _in_scenario(
        "nested-too-deep",
        GOOD + "x: " + "[" * 70 + "]" * 70 + "\n",
        "*bad.scenario.yaml:14: nested deeper than 64 levels",
    ),
    _in_policy(
        "too-large",
        POLICY + "# padding\n" * 450_000,
        "*policy.yaml: the file is larger than 4 MiB; split it",
    ),
    _in_scenario(
        "not-utf8-in-scenario",
        GOOD.replace("labels: {app: myapp}", "labels: {app: caf\xe9}").encode("latin-1"),
        "*bad.scenario.yaml:6: not UTF-8: byte 0xe9 at line 6, column 22; save the file as UTF-8",
    ),
    _in_policy(
        "not-utf8-in-policy-file",
        POLICY.replace("name: allow", "name: caf\xe9").encode("latin-1"),
        "*policy.yaml:4: not UTF-8: byte 0xe9 at line 4, column 12; save the file as UTF-8",
    ),
    _in_scenario(
        "utf16-scenario",
        GOOD.encode("utf-16"),
        "*bad.scenario.yaml:1: not UTF-8: * (it starts with a UTF-16 byte-order mark)*",
    ),
    scenario(
        "tab-in-scenario",
        "    port: 80\n",
        "\tport: 80\n",
        "*bad.scenario.yaml:7: invalid YAML: a tab character at line 7, column 1; "
        "YAML indents with spaces only*",
    ),
    policy(
        "tab-in-policy-file",
        "  name: allow",
        "\tname: allow",
        "*policy.yaml:4: invalid YAML: a tab character at line 4, column 1*",
    ),
    scenario(
        "unclosed-double-quote",
        "labels: {app: frontend}",
        'labels: {app: "frontend}',
        "*bad.scenario.yaml:3: invalid YAML: unclosed quote: the string opened at line 3, "
        "column 42 has no closing quote",
    ),
    policy(
        "unclosed-single-quote-in-policy-file",
        "name: allow",
        "name: 'allow",
        "*policy.yaml:4: invalid YAML: unclosed quote: the string opened at line 4*",
    ),
    scenario(
        "unclosed-bracket",
        "clusters: [cluster1, cluster2]",
        "clusters: [cluster1, cluster2",
        "*bad.scenario.yaml:2: invalid YAML: *(while parsing a flow sequence at line 1)",
    ),
    scenario(
        "duplicate-key-in-scenario",
        "    port: 80\n",
        "    port: 80\n    port: 81\n",
        "*bad.scenario.yaml:8: invalid YAML: duplicate key 'port' (first at line 7)",
    ),
    policy(
        "duplicate-key-in-policy-file",
        "  name: allow\n",
        "  name: allow\n  name: other\n",
        "*policy.yaml:5: invalid YAML: duplicate key 'name' (first at line 4)",
    ),
    policy(
        "control-character",
        "name: allow",
        "name: al\x00low",
        "*policy.yaml:4: invalid YAML: character U+0000 at line 4, column 11 is not allowed*",
    ),
    scenario(
        "python-tag",
        "labels: {app: frontend}",
        "labels: !!python/object:os.system {app: frontend}",
        "*bad.scenario.yaml:3: invalid YAML: the tag * is not supported*",
    ),
    scenario(
        "duplicate-anchor",
        "labels: {app: myapp}",
        "labels: &l {app: myapp}\n    service: &l {name: s}",
        "*bad.scenario.yaml:7: invalid YAML: anchor &l is defined twice (first at line 6)*",
    ),
    scenario(
        "bad-indentation",
        "    port: 80\n",
        "   port: 80\n",
        "*bad.scenario.yaml:*: invalid YAML: *check the indentation",
    ),
    _in_scenario(
        "empty-scenario-file",
        "# nothing yet\n",
        "*bad.scenario.yaml: expected exactly one YAML document, found 0",
    ),
    _in_scenario(
        "two-documents-in-scenario",
        GOOD + "---\n" + GOOD,
        "*bad.scenario.yaml: expected exactly one YAML document, found 2",
    ),
    _in_policy("empty-policy-file", "", "*policy.yaml: the policy file holds no document"),
]

#: Alias bombs used to hang (in a policy file) until killed: every place one can hide, in one
#: run under a timeout, each rejected at once with its file and line.
BOMBS = Case(
    "alias-bombs",
    (
        "*suite/in-inline-policy/bad.scenario.yaml:22: aliases expand to more than 20000 nodes*",
        "*suite/in-policy-file/policy.yaml:14: aliases expand to more than 20000 nodes "
        "(alias *l3 adds 11111 by itself); is this an alias bomb?",
        "*suite/in-scenario/bad.scenario.yaml:19: aliases expand to more than 20000 nodes*",
        "*3 errors*",
    ),
    {
        "suite/in-scenario/bad.scenario.yaml": GOOD + "x-bomb:\n" + _bomb("  "),
        "suite/in-scenario/policy.yaml": POLICY,
        "suite/in-policy-file/bad.scenario.yaml": GOOD,
        "suite/in-policy-file/policy.yaml": POLICY + "  x-bomb:\n" + _bomb("    "),
        "suite/in-inline-policy/bad.scenario.yaml": GOOD.replace("[policy.yaml]", "[bomb]")
        + "policies:\n  bomb:\n    inline:\n      kind: CiliumNetworkPolicy\n"
        + _bomb("      "),
    },
    hang_guard=True,
    interrupt=True,
    exit=pytest.ExitCode.INTERRUPTED,
)


def test_alias_bombs_are_rejected_at_once_wherever_they_hide(
    run_case: Callable[[Case], pytest.RunResult],
) -> None:
    run_case(BOMBS)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_malformed_yaml_is_located_and_named(
    run_case: Callable[[Case], pytest.RunResult], case: Case
) -> None:
    run_case(case)
