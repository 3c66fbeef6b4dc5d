"""The backend's options: command line over ini over defaults."""

from __future__ import annotations

import pytest

CONFTEST = """
import pytest
from pytest_clustermesh.kubernetes.options import add_options, settings_from_config

def pytest_addoption(parser):
    add_options(parser, parser.getgroup("clustermesh-k8s"))

@pytest.fixture
def settings(request):
    return settings_from_config(request.config, "run-7")
"""

TEST = """
def test_show(settings):
    print("SETTINGS", settings)
"""


def run(pytester: pytest.Pytester, *args: str, ini: str = "") -> str:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(TEST)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}")
    result = pytester.runpytest_inprocess(
        "-s", "-p", "no:cacheprovider", "-p", "no:clustermesh", *args
    )
    return str(result.stdout)


def test_defaults(pytester: pytest.Pytester) -> None:
    out = run(pytester)
    assert "run_id='run-7'" in out and "connect_timeout=2.0" in out and "keep=False" in out


def test_command_line_wins_over_ini(pytester: pytest.Pytester) -> None:
    out = run(
        pytester,
        "--probe-timeout=0.5",
        "--keep-resources",
        "--client-image=me/curl",
        ini="clustermesh_probe_timeout = 3\nclustermesh_probe_concurrency = 4\n"
        "clustermesh_allow_clusterwide_policies = true",
    )
    assert "connect_timeout=0.5" in out and "probe_concurrency=4" in out
    assert "keep=True" in out and "allow_clusterwide=True" in out
    assert "client_image='me/curl'" in out


def test_bad_values_name_the_option(pytester: pytest.Pytester) -> None:
    out = run(pytester, "--probe-retries=many")
    assert "--probe-retries: expected a whole number, got 'many'" in out


def test_policy_settle_takes_zero_from_the_ini_and_the_command_line(
    pytester: pytest.Pytester,
) -> None:
    assert "policy_settle=5.0" in run(pytester)
    assert "policy_settle=0.0" in run(pytester, ini="clustermesh_policy_settle = 0")
    assert "policy_settle=2.5" in run(
        pytester, "--policy-settle=2.5", ini="clustermesh_policy_settle = 0"
    )


def test_policy_settle_must_not_be_negative(pytester: pytest.Pytester) -> None:
    assert "--policy-settle: must be zero or positive, got -1" in run(
        pytester, "--policy-settle=-1"
    )
    assert "--probe-timeout: must be positive, got 0" in run(pytester, "--probe-timeout=0")


def test_the_udp_sctp_server_image_has_an_option_and_an_ini_key(pytester: pytest.Pytester) -> None:
    out = run(pytester, "--udp-sctp-server-image=registry.local/agnhost:2.52")
    assert "udp_sctp_server_image='registry.local/agnhost:2.52'" in out
    out = run(pytester, ini="clustermesh_udp_sctp_server_image = mirror/agnhost")
    assert "udp_sctp_server_image='mirror/agnhost'" in out
    assert "client_image='registry.k8s.io/e2e-test-images/agnhost:2.52'" in out
