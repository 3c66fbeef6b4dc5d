"""The pytest11 entry point: options, collection of scenario files, the mesh session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .backend import new_run_id
from .collect import ScenarioFile, ScenarioItem, is_scenario_file
from .errors import ClusterMeshError, UsageError
from .fixtures import clustermesh_facts, clustermesh_session, mesh
from .options import add_options, check_options, fail_on_all_skipped, get, mesh_choice
from .reports import ReportsPlugin
from .reports import add_options as add_report_options
from .runinfo import RunInfo, check_contexts
from .session import (
    CHOICE_KEY,
    PREFLIGHT_FAILURE_KEY,
    RUN_ID_KEY,
    SESSION_KEY,
    close_session,
    start_session,
)
from .skipsummary import WhenSkipSummary

__all__ = ["clustermesh_facts", "clustermesh_session", "mesh"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = add_options(parser)
    add_report_options(parser, group)
    try:
        from .kubernetes import options as kube_options
    except ImportError:  # the Kubernetes backend is optional at import time
        return
    kube_options.add_options(parser, group)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "clustermesh(scenario, step, source, target, verdict, ...): set on scenario items; "
        "select with -m \"clustermesh(verdict='deny')\"",
    )
    try:
        config.stash[CHOICE_KEY] = mesh_choice(config)
        check_options(config)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    run_id = (workerinput or {}).get("clustermesh_run_id") or get(config, "clustermesh_run_id")
    config.stash[RUN_ID_KEY] = str(run_id or new_run_id())
    config.pluginmanager.register(
        ReportsPlugin(config, config.stash[CHOICE_KEY], config.stash[RUN_ID_KEY]),
        "clustermesh-reports",
    )
    config.pluginmanager.register(
        WhenSkipSummary(config, fail_on_all_skipped(config)), "clustermesh-when-skips"
    )
    if config.stash[CHOICE_KEY].backend == "kubernetes":
        check_contexts(config, config.stash[CHOICE_KEY])
        config.pluginmanager.register(
            RunInfo(config, config.stash[CHOICE_KEY], config.stash[RUN_ID_KEY]),
            "clustermesh-run-info",
        )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker uses the controller's run id, so one label covers the run."""
    node.workerinput["clustermesh_run_id"] = node.config.stash[RUN_ID_KEY]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's default ``load`` distribution, but a scenario's items stay on one worker."""
    if config.getvalue("dist") != "load":
        return None
    from .distribution import ScenarioScheduling

    return ScenarioScheduling(config, log)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and is_scenario_file(parent.config, file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.option.collectonly:
        return
    if any(isinstance(item, ScenarioItem) for item in items):
        choice = config.stash[CHOICE_KEY]
        if choice.backend is None:
            raise pytest.UsageError(choice.missing_message)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Preflight before the first item, when an item will use the mesh: an unreachable cluster,
    a mesh that is not healthy or a missing Cilium stops the run here, one line per problem,
    before anything is deployed. (xdist workers preflight in the session fixture instead.)"""
    config = session.config
    if config.option.collectonly or hasattr(config, "workerinput"):
        return
    if not any(_uses_mesh(item) for item in session.items):
        return
    try:
        start_session(config)
    except ClusterMeshError as exc:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            for line in f"clustermesh: {exc}".splitlines():
                reporter.write_line(line, red=True, bold=True)


def _uses_mesh(item: pytest.Item) -> bool:
    return "clustermesh_session" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """A failed preflight stops the run before its first item (exit code 2, interrupted)."""
    if session.config.stash.get(PREFLIGHT_FAILURE_KEY, None) is not None:
        raise session.Interrupted("clustermesh: preflight failed, nothing was deployed")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Close a mesh session that no item's fixture closed (the run stopped before one ran)."""
    try:
        close_session(session.config)
    except ClusterMeshError as exc:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"clustermesh: {exc}", red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Tear a scenario's deployment down after its last item, not at the end of the run."""
    if not isinstance(item, ScenarioItem):
        return
    if isinstance(nextitem, ScenarioItem) and nextitem.scenario.path == item.scenario.path:
        return
    session = item.config.stash.get(SESSION_KEY, None)
    if session is not None:
        try:
            session.finish(item.scenario)
        except ClusterMeshError as exc:
            pytest.fail(f"cleanup of {item.scenario.name} failed: {exc}", pytrace=False)
