"""The user's own command against a broken emulated mesh: no deny item passes because of a
fault, and the message names the fault. Plus what an operator is told: the run id and its
cleanup command, the RBAC the run needs, a context the kubeconfig does not have.

As in test_user_command.py, the emulator runs in this process, pytest in a subprocess, through
the plugin, the Kubernetes backend and the official client.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from clustermesh_emulator import Emulator
from clustermesh_emulator.mesh import MirroredMesh
from clustermesh_emulator.meshfaults import MeshFaults
from clustermesh_emulator.rbac import attributes

from .test_user_command import EXTERNALS, REPO, command, leftovers, scenarios

__all__ = ["scenarios"]  # the fixture

PARTITION = frozenset({frozenset({"cluster1", "cluster2"})})
HUBBLE_OFF = frozenset({"cluster1", "cluster2"})
BOTH_STEP = ["-k", "policy-on-both", "--probe-retries=1"]


@pytest.fixture
def broken() -> Iterator[tuple[Emulator, MirroredMesh]]:
    with Emulator() as emulator, MirroredMesh(emulator, seed=7) as mirror:
        mirror.externals.update(EXTERNALS)
        yield emulator, mirror
        emulator["cluster1"].settle()
        assert leftovers(emulator) == []


def run(
    emulator: Emulator, scenarios: Path, tmp_path: Path, *extra: str, only: str = "guide"
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """The user's command, and the records of its results file."""
    results = tmp_path / f"results-{len(list(tmp_path.iterdir()))}.json"
    done = subprocess.run(
        [*command(emulator, scenarios, f"--clustermesh-results={results}", *extra, only=only)],
        cwd=scenarios.parent, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    records = json.loads(results.read_text())["records"] if results.exists() else []
    return done, records


def cluster_of(end: str) -> str:
    return end.split("/", 1)[0]


def denies(records: list[dict[str, Any]], across: bool | None = None) -> list[dict[str, Any]]:
    """The deny items run, those between two clusters (``across``) or within one."""
    found = [r for r in records if r["expected"] == "deny" and r["status"] != "skipped"]
    if across is None:
        return found
    return [
        r
        for r in found
        if cluster_of(r["target"]) != "service"
        and (cluster_of(r["source"]) != cluster_of(r["target"])) is across
    ]


def test_a_partitioned_pair_passes_no_deny_across_it(
    broken: tuple[Emulator, MirroredMesh], scenarios: Path, tmp_path: Path
) -> None:
    emulator, mirror = broken
    mirror.mesh_faults = MeshFaults(partitions=PARTITION)
    done, records = run(emulator, scenarios, tmp_path, *BOTH_STEP)
    across = denies(records, across=True)
    assert across and all(r["status"] != "passed" for r in across), done.stdout[-3000:]
    for record in across:
        assert "recorded no drop of this connection" in record["message"]
        assert "is the path between kind-cluster1 and kind-cluster2 down?" in record["message"]
    assert all(r["status"] == "passed" for r in denies(records, across=False))
    # Timeouts taken as denies (Hubble off too) still need the path proven open.
    mirror.mesh_faults = MeshFaults(partitions=PARTITION, hubble_disabled=HUBBLE_OFF)
    done, records = run(emulator, scenarios, tmp_path, *BOTH_STEP, "--deny-evidence=timeout")
    across = denies(records, across=True)
    assert across and all(r["status"] != "passed" for r in across), done.stdout[-3000:]
    assert all("nothing got from" in r["message"] for r in across)
    assert "inferred rather than proven by Hubble" in done.stdout  # the local denies


def test_a_non_policy_drop_passes_no_deny_and_is_named(
    broken: tuple[Emulator, MirroredMesh], scenarios: Path, tmp_path: Path
) -> None:
    emulator, mirror = broken
    reason = "NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT"
    mirror.mesh_faults = MeshFaults(drops={("cluster2", "cluster1"): reason})
    done, records = run(emulator, scenarios, tmp_path, *BOTH_STEP)
    hit = [r for r in denies(records, across=True) if cluster_of(r["source"]) == "cluster2"]
    assert hit and all(r["status"] != "passed" for r in hit), done.stdout[-3000:]
    assert all(f"with reason {reason}, which is not a policy verdict" in r["message"] for r in hit)


def test_without_hubble_denies_fail_unless_inferred_and_counted(
    broken: tuple[Emulator, MirroredMesh], scenarios: Path, tmp_path: Path
) -> None:
    emulator, mirror = broken
    mirror.mesh_faults = MeshFaults(hubble_disabled=HUBBLE_OFF)
    done, records = run(emulator, scenarios, tmp_path, *BOTH_STEP)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED
    assert done.stdout.count("kind-cluster2: Hubble cannot be read (agent cilium-") == 2
    all_denies = denies(records)
    assert all_denies and all(r["status"] != "passed" for r in all_denies)
    assert all("Hubble is off in kind-cluster" in r["message"] for r in all_denies)
    done, records = run(emulator, scenarios, tmp_path, *BOTH_STEP, "--deny-evidence=timeout")
    assert done.returncode == 0, done.stdout[-3000:]
    count = len(denies(records))
    assert f"clustermesh: {count} deny item(s) passed on a timeout alone" in done.stdout


def test_an_agent_realising_policy_too_late_fails_the_steps_it_decides(
    broken: tuple[Emulator, MirroredMesh], scenarios: Path, tmp_path: Path
) -> None:
    emulator, mirror = broken
    mirror.mesh_faults = MeshFaults(late_agents={"cluster1": 60})
    done, records = run(
        emulator, scenarios, tmp_path, "-k", "policy-on-cluster1", "--policy-wait-timeout=1",
        "--probe-retries=1",
    )  # fmt: skip
    deny = [
        r
        for r in denies(records)
        if "cluster1" in (cluster_of(r["source"]), cluster_of(r["target"]))
    ]
    assert deny and all(r["status"] != "passed" for r in deny), done.stdout[-3000:]
    assert all("did not realise policy revision" in r["message"] for r in deny)


def test_a_remote_cluster_not_ready_stops_the_run_naming_the_pair(
    broken: tuple[Emulator, MirroredMesh], scenarios: Path, tmp_path: Path
) -> None:
    emulator, mirror = broken
    mirror.mesh_faults = MeshFaults(not_ready=frozenset({("cluster2", "cluster1")}))
    done, records = run(emulator, scenarios, tmp_path)
    assert done.returncode == pytest.ExitCode.INTERRUPTED
    assert records == []
    lines = [line for line in done.stdout.splitlines() if " -> " in line]
    assert len(lines) == 1 and lines[0].startswith("kind-cluster2 -> kind-cluster1: agent cilium-")
    assert "says cluster1 is not connected" in lines[0]
    assert "context deadline exceeded" in lines[0]
    assert "no tests ran" in done.stdout and "Traceback" not in done.stdout


def test_the_header_gives_the_run_id_its_cleanup_and_once_the_fallback_without_agents(
    broken: tuple[Emulator, MirroredMesh], scenarios: Path, tmp_path: Path
) -> None:
    """RBAC forbids exec in kube-system: the run says once, before its items, that it falls
    back to --policy-settle and why; header and summary give the run id and its cleanup."""
    emulator, _ = broken
    for cluster in emulator:
        cluster.forbid("create", "pods/exec", "kube-system")
    done, _ = run(
        emulator, scenarios, tmp_path, "-k", "policy-on-cluster1", "--deny-evidence=timeout",
        "--policy-settle=0.5", "--clustermesh-run-id=pr-42",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    head, _, summary = done.stdout.partition("clustermesh run")
    notice = "kind-cluster1: the Cilium agents cannot be read"
    assert head.count(notice) == 1 and summary.count(notice) == 1
    assert 'cannot create resource "pods/exec"' in head
    assert "confirmed by a second probe round within --policy-settle" in head
    cleanup = (
        f"python -m pytest_clustermesh.kubernetes.cleanup --kubeconfig {emulator.kubeconfig_path} "
        "--contexts kind-cluster1,kind-cluster2 --run pr-42"
    )
    for part in (head, summary):
        assert "clustermesh: run id pr-42" in part and cleanup in part


def test_a_context_missing_from_the_kubeconfig_is_one_usage_error(
    scenarios: Path, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [
                    {"name": n, "context": {"cluster": "c", "user": "u"}}
                    for n in ("kind-a", "kind-b")
                ],
                "current-context": "kind-a",
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(scenarios), "-p", "no:cacheprovider",
         "--kube-contexts=kind-a,kind-nope", f"--kubeconfig={kubeconfig}"],
        cwd=scenarios.parent, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == [
        f"ERROR: --kube-contexts names kind-nope, which {kubeconfig} does not have; its "
        "contexts are: kind-a, kind-b"
    ]
    assert done.stdout.count("FAILED") == 0 and "Traceback" not in done.stderr


# -- the RBAC the documentation gives is the RBAC the run uses ---------------------------------

DOCS = REPO / "docs" / "real-clusters.md"
UNSEEN = {
    ("", "namespaces", "patch"): "re-deploying over a kept namespace (--keep-resources)",
    ("", "services", "patch"): "re-deploying over a kept Service",
    ("", "serviceaccounts", "patch"): "re-deploying over a kept ServiceAccount",
    ("apps", "deployments", "patch"): "re-deploying over a kept Deployment",
    ("", "events", "list"): "explaining pods that do not start",
    ("", "pods/exec", "get"): "websocket exec on Kubernetes up to 1.34",
    ("cilium.io", "ciliumnetworkpolicies", "update"): "a step changing a policy in place",
    ("networking.k8s.io", "networkpolicies", "update"): "a step changing a policy in place",
    ("cilium.io", "ciliumclusterwidenetworkpolicies", "create"): "--allow-clusterwide-policies",
    ("cilium.io", "ciliumclusterwidenetworkpolicies", "update"): "--allow-clusterwide-policies",
    ("cilium.io", "ciliumclusterwidenetworkpolicies", "delete"): "--allow-clusterwide-policies",
    **{
        ("policy.networking.k8s.io", "clusternetworkpolicies", verb): "--allow-clusterwide-policies"
        for verb in ("create", "update", "delete")
    },
}
"""What the manifest grants that the shipped scenarios do not exercise, and when it is used."""


def documented_rbac() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The ClusterRole's rules, and each namespaced Role's (``kube-system``, ``default``), from
    the manifest in the docs."""
    text = DOCS.read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    documents = [d for d in yaml.safe_load_all(textwrap.dedent(block)) if d]
    cluster_role = next(d for d in documents if d["kind"] == "ClusterRole")
    roles = {d["metadata"]["namespace"]: d["rules"] for d in documents if d["kind"] == "Role"}
    assert sorted(roles) == ["default", "kube-system"]
    bound = {
        (d["metadata"]["namespace"], d["roleRef"]["name"])
        for d in documents
        if d["kind"] == "RoleBinding"
    }
    assert bound == {
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in documents
        if d["kind"] == "Role"
    }
    return cluster_role["rules"], roles


def grants(
    rules: list[dict[str, Any]], group: str, resource: str, verb: str, name: str | None
) -> bool:
    return any(
        group in rule["apiGroups"]
        and resource in rule["resources"]
        and verb in rule["verbs"]
        and (name is None or "resourceNames" not in rule or name in rule["resourceNames"])
        for rule in rules
    )


def test_the_documented_rbac_covers_every_request_of_the_run_and_no_more(
    broken: tuple[Emulator, MirroredMesh], scenarios: Path, tmp_path: Path
) -> None:
    emulator, _ = broken
    for cluster in emulator:
        cluster.clear_requests()
    done, _ = run(emulator, scenarios, tmp_path, only="")
    assert done.returncode == 0, done.stdout[-3000:]
    cleanup = subprocess.run(
        [sys.executable, "-m", "pytest_clustermesh.kubernetes.cleanup", "--kubeconfig",
         str(emulator.kubeconfig_path), "--contexts", "kind-cluster1,kind-cluster2"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert cleanup.returncode == 0, cleanup.stderr
    cluster_rules, roles = documented_rbac()
    used = set()
    for cluster in emulator:
        for request in cluster.requests:
            found = attributes(request.method, request.path, request.query)
            if found is None:
                continue
            used.add(found.rule)
            allowed = grants(cluster_rules, *found.rule, None) or (
                found.namespace in roles and grants(roles[found.namespace], *found.rule, found.name)
            )
            assert allowed, f"the documented RBAC does not allow {request} ({found})"
    granted = {
        (group, resource, verb)
        for rule in cluster_rules + [rule for rules in roles.values() for rule in rules]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted - used <= set(UNSEEN), f"granted but never used: {granted - used - set(UNSEEN)}"
    assert not set(UNSEEN) & used, f"used, so no longer an exception: {set(UNSEEN) & used}"
