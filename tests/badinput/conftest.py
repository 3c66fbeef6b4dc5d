from __future__ import annotations

from collections.abc import Callable

import pytest

from .cases import Case, check, write

#: Inner runs load this plugin and pytest's own, nothing else: plugin discovery and the other
#: plugins' fixtures cost more than a case. The plugin's warning about being imported already,
#: and the unraisable-exception plugin's garbage collection, are the harness's, not the case's.
INNER = (
    "-p",
    "pytest_clustermesh.plugin",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:unraisableexception",
    "-W",
    "ignore::pytest.PytestAssertRewriteWarning",
)
#: Seconds a run that used to hang gets before it counts as hanging.
HANG_TIMEOUT = 60


@pytest.fixture
def run_case(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Case], pytest.RunResult]:
    """Run pytest on a case's files as a user would, and check the case's promises."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    def run(case: Case) -> pytest.RunResult:
        write(pytester.path, case)
        for name, value in case.env.items():
            monkeypatch.setenv(name, value.replace("{path}", str(pytester.path)))
        if case.ini:
            pytester.makeini(f"[pytest]\n{case.ini}")
        args = [*INNER, "suite", *(a.replace("{path}", str(pytester.path)) for a in case.args)]
        if not case.interrupt:
            args.append("--continue-on-collection-errors")
        if case.hang_guard:
            result = pytester.runpytest_subprocess(*args, timeout=HANG_TIMEOUT)
        else:
            result = pytester.runpytest_inprocess(*args)
        check(case, result.ret, result.stdout.str(), result.stderr.str())
        return result

    return run
