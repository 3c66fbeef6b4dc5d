"""Command-line and ini values are checked at start-up, for every backend: each problem is one
line and exit code 4, before anything is collected or run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .cases import GOOD, KUBECONFIG, POLICY, POLICY_FILE, SCENARIO, SIMULATED, Case, usage

CONTEXTS = ("--kube-contexts=kind-cluster1,kind-cluster2",)
WITH_KUBECONFIG = {SCENARIO: GOOD, POLICY_FILE: POLICY, "kubeconfig.yaml": KUBECONFIG}
REAL = (*CONTEXTS, "--kubeconfig={path}/kubeconfig.yaml")

CASES = [
    usage(
        "sim-version-below-the-model",
        (*SIMULATED, "--sim-cilium-version=1.15"),
        "--sim-cilium-version: the simulated mesh models Cilium 1.16 to 1.20, not 1.15",
    ),
    usage(
        "sim-version-above-the-model",
        (*SIMULATED, "--sim-cilium-version=2.0"),
        "--sim-cilium-version: the simulated mesh models Cilium 1.16 to 1.20, not 2.0",
    ),
    usage(
        "sim-version-not-a-version",
        (*SIMULATED, "--sim-cilium-version=latest"),
        "--sim-cilium-version: not a Cilium version: 'latest'",
    ),
    usage(
        "sim-version-in-the-ini",
        SIMULATED,
        "clustermesh_sim_cilium_version: the simulated mesh models Cilium 1.16 to 1.20, not 1.21",
        ini="clustermesh_sim_cilium_version = 1.21",
    ),
    usage(
        "sim-option-value",
        (*SIMULATED, "--sim-option=enable-policy=sometimes"),
        "--sim-option enable-policy takes default, always or never, not 'sometimes'",
    ),
    usage(
        "sim-option-twice",
        (*SIMULATED, "--sim-option=enable-policy=always", "--sim-option=enable-policy=never"),
        "--sim-option enable-policy is given twice: always and never",
    ),
    # Per cluster: a mixed mesh.
    usage(
        "sim-version-of-a-cluster-below-the-model",
        (*SIMULATED, "--sim-cilium-version=cluster1=1.18,cluster2=1.15"),
        "--sim-cilium-version: the simulated mesh models Cilium 1.16 to 1.20, not 1.15",
    ),
    usage(
        "sim-version-cluster-twice",
        (*SIMULATED, "--sim-cilium-version=cluster1=1.18,cluster1=1.19"),
        "--sim-cilium-version names the cluster 'cluster1' twice",
    ),
    usage(
        "sim-version-two-for-every-cluster",
        (*SIMULATED, "--sim-cilium-version=1.18,1.19"),
        "--sim-cilium-version: two versions for every cluster: 1.18 and 1.19",
    ),
    usage(
        "sim-version-empty-cluster",
        (*SIMULATED, "--sim-cilium-version==1.19"),
        "--sim-cilium-version: '=1.19': expected VERSION or CLUSTER=VERSION,... "
        "(e.g. 1.19 or cluster1=1.18,cluster2=1.19)",
    ),
    usage(
        "sim-version-bad-cluster-name",
        (*SIMULATED, "--sim-cilium-version=Cluster_1=1.19"),
        "--sim-cilium-version: 'Cluster_1' is not a cluster name (lower-case letters, digits, -)",
    ),
    usage(
        "sim-option-of-a-cluster-value",
        (*SIMULATED, "--sim-option=cluster2:policy-audit-mode=maybe"),
        "--sim-option policy-audit-mode takes true or false, not 'maybe'",
    ),
    usage(
        "sim-option-of-a-cluster-twice",
        (
            *SIMULATED,
            "--sim-option=cluster2:enable-policy=always",
            "--sim-option=cluster2:enable-policy=never",
        ),
        "--sim-option enable-policy is given twice for cluster2: always and never",
    ),
    usage(
        "sim-option-the-clusters-version-lacks",
        (
            *SIMULATED,
            "--sim-cilium-version=cluster1=1.17,cluster2=1.19",
            "--sim-option=cluster1:policy-default-local-cluster=true",
        ),
        "--sim-option policy-default-local-cluster: the option does not exist in Cilium 1.17 "
        "(cluster1) (introduced in 1.18)",
    ),
    usage(
        "sim-option-of-a-cluster-in-the-ini",
        (),
        "clustermesh_sim_options 'cluster2:policy-default-local-clustr=true': expected "
        "[CLUSTER:]KEY=VALUE with KEY one of policy-default-local-cluster, enable-policy, "
        "policy-audit-mode, enable-k8s-cluster-network-policy",
        ini="clustermesh_backend = simulated\nclustermesh_sim_options =\n"
        "    cluster2:policy-default-local-clustr=true",
    ),
    usage(
        "empty-context-entry",
        ("--kube-contexts=kind-cluster1,,kind-cluster2",),
        "--kube-contexts: an empty entry in 'kind-cluster1,,kind-cluster2'; separate contexts "
        "by one comma",
    ),
    usage(
        "trailing-comma",
        ("--kube-contexts=kind-cluster1,",),
        "--kube-contexts: an empty entry in 'kind-cluster1,'*",
    ),
    usage(
        "contexts-given-empty",
        ("--kube-contexts=",),
        "--kube-contexts: empty; name the contexts: --kube-contexts=CTX1,CTX2",
    ),
    usage(
        "context-twice",
        ("--kube-contexts=kind-cluster1,kind-cluster1",),
        "--kube-contexts names the context 'kind-cluster1' twice",
    ),
    usage(
        "cluster-bound-twice",
        ("--kube-contexts=cluster1=kind-cluster1,cluster1=kind-cluster2",),
        "--kube-contexts names the cluster 'cluster1' twice",
    ),
    usage(
        "binding-without-context",
        ("--kube-contexts=cluster1=,cluster2=kind-cluster2",),
        "--kube-contexts: cluster1= needs CLUSTER=CONTEXT, both set",
    ),
    usage(
        "binding-some-by-name",
        ("--kube-contexts=cluster1=kind-cluster1,kind-cluster2",),
        "--kube-contexts: bind either all clusters by name or none*",
    ),
    usage(
        "contexts-in-the-ini",
        (),
        "clustermesh_kube_contexts: an empty entry in 'a,,b'*",
        ini="clustermesh_kube_contexts = a,,b",
    ),
    usage(
        "kubeconfig-missing",
        (*CONTEXTS, "--kubeconfig=nowhere.yaml"),
        "--kubeconfig: nowhere.yaml does not exist",
    ),
    usage(
        "kubeconfig-missing-on-the-simulated-mesh",
        (*SIMULATED, "--kubeconfig=nowhere.yaml"),
        "--kubeconfig: nowhere.yaml does not exist",
    ),
    usage(
        "kubeconfig-a-folder",
        (*CONTEXTS, "--kubeconfig=suite"),
        "--kubeconfig: suite is a folder, not a file",
    ),
    usage(
        "no-kubeconfig-anywhere",
        CONTEXTS,
        "no kubeconfig: pass --kubeconfig=PATH or set $KUBECONFIG (*/.kube/config does not exist)",
    ),
    usage(
        "kubeconfig-variable-names-nothing",
        CONTEXTS,
        "$KUBECONFIG names no file that exists: */a.yaml:*/b.yaml",
        env={"KUBECONFIG": "{path}/a.yaml:{path}/b.yaml"},
    ),
    usage(
        "context-not-in-the-kubeconfig",
        ("--kube-contexts=kind-cluster1,kind-clustr2", "--kubeconfig={path}/kubeconfig.yaml"),
        "--kube-contexts *kind-clustr2*kubeconfig.yaml*kind-cluster1, kind-cluster2",
        files=WITH_KUBECONFIG,
    ),
    usage(
        "kubeconfig-not-yaml",
        (*CONTEXTS, "--kubeconfig={path}/kubeconfig.yaml"),
        "kubeconfig */kubeconfig.yaml:2: invalid YAML: a tab character at line 2*",
        files={**WITH_KUBECONFIG, "kubeconfig.yaml": "apiVersion: v1\n\tkind: Config\n"},
    ),
    usage(
        "kubeconfig-not-a-mapping",
        (*CONTEXTS, "--kubeconfig={path}/kubeconfig.yaml"),
        "kubeconfig */kubeconfig.yaml: not a kubeconfig (one YAML mapping with clusters, "
        "contexts and users)",
        files={**WITH_KUBECONFIG, "kubeconfig.yaml": "- kind-cluster1\n- kind-cluster2\n"},
    ),
    usage(
        "negative-probe-timeout-on-the-simulated-mesh",
        (*SIMULATED, "--probe-timeout=-1"),
        "--probe-timeout: must be positive, got -1",
    ),
    usage(
        "negative-probe-timeout-on-real-clusters",
        (*REAL, "--probe-timeout=-1"),
        "--probe-timeout: must be positive, got -1",
        files=WITH_KUBECONFIG,
    ),
    usage(
        "zero-retry-window",
        (*SIMULATED, "--probe-retry-window=0"),
        "--probe-retry-window: must be positive, got 0",
    ),
    usage(
        "negative-policy-settle",
        (*SIMULATED, "--policy-settle=-1"),
        "--policy-settle: must be zero or positive, got -1",
    ),
    usage(
        "ready-timeout-not-a-number",
        (*SIMULATED, "--ready-timeout=nan"),
        "--ready-timeout: must be a finite number, got nan",
    ),
    usage(
        "ready-timeout-infinite",
        (*SIMULATED, "--ready-timeout=inf"),
        "--ready-timeout: must be a finite number, got inf",
    ),
    usage(
        "retries-not-whole",
        (*SIMULATED, "--probe-retries=1.5"),
        "--probe-retries: expected a whole number, got '1.5'",
    ),
    usage(
        "zero-concurrency",
        (*SIMULATED, "--probe-concurrency=0"),
        "--probe-concurrency: must be positive, got 0",
    ),
    usage(
        "timeout-in-the-ini",
        SIMULATED,
        "clustermesh_probe_timeout: expected a number of seconds, got '2s'",
        ini="clustermesh_probe_timeout = 2s",
    ),
    usage(
        "empty-client-image",
        (*SIMULATED, "--client-image="),
        "--client-image: must not be empty",
    ),
    usage(
        "baseline-missing",
        (*SIMULATED, "--clustermesh-baseline=before.json"),
        "--clustermesh-baseline: */before.json: no such file",
    ),
    usage(
        "backend-in-the-ini",
        (),
        "clustermesh_backend must be kubernetes or simulated, not 'cloud'",
        ini="clustermesh_backend = cloud",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_bad_option_is_one_line_and_exit_code_4(
    run_case: Callable[[Case], pytest.RunResult], case: Case
) -> None:
    run_case(case)
