"""The reports' command-line options and their ini twins."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

RESULTS = "clustermesh_results"
BASELINE = "clustermesh_baseline"
FAIL_ON_CHANGE = "clustermesh_fail_on_change"


def add_options(parser: pytest.Parser, group: pytest.OptionGroup) -> None:
    group.addoption(
        "--clustermesh-results",
        dest=RESULTS,
        metavar="PATH",
        default=None,
        help="write a JSON results file: one record per scenario item (expected and observed "
        "verdicts, Cilium facts) and the run's metadata; a later run's --clustermesh-baseline",
    )
    parser.addini(RESULTS, help="ini twin of --clustermesh-results (relative to the ini file)")
    group.addoption(
        "--clustermesh-baseline",
        dest=BASELINE,
        metavar="PATH",
        default=None,
        help="a results file of an earlier run: report every verdict that changed since "
        "(e.g. across a Cilium upgrade)",
    )
    parser.addini(BASELINE, help="ini twin of --clustermesh-baseline (relative to the ini file)")
    group.addoption(
        "--clustermesh-fail-on-change",
        dest=FAIL_ON_CHANGE,
        action="store_true",
        default=None,
        help="fail the run (exit code 1) when any verdict changed since --clustermesh-baseline",
    )
    parser.addini(
        FAIL_ON_CHANGE,
        help="ini twin of --clustermesh-fail-on-change (no effect without a baseline)",
        type="bool",
        default=False,
    )


@dataclass(frozen=True)
class ReportSettings:
    results: Path | None = None
    baseline: Path | None = None
    fail_on_change: bool = False


def settings_from_config(config: pytest.Config) -> ReportSettings:
    """The options, command line first; relative ini paths are relative to the ini file."""
    flag = config.getoption(FAIL_ON_CHANGE, default=None)
    baseline = _path(config, BASELINE)
    if flag and baseline is None:
        raise pytest.UsageError(
            "--clustermesh-fail-on-change compares against a baseline: "
            "pass --clustermesh-baseline=PATH (a results file of an earlier run)"
        )
    fail_on_change = bool(flag) if flag is not None else bool(config.getini(FAIL_ON_CHANGE))
    return ReportSettings(_path(config, RESULTS), baseline, fail_on_change)


def _path(config: pytest.Config, name: str) -> Path | None:
    value = config.getoption(name, default=None)
    if value:
        return config.invocation_params.dir / Path(value).expanduser()
    value = config.getini(name)
    if value:
        base = config.inipath.parent if config.inipath else config.rootpath
        return base / Path(str(value)).expanduser()
    return None
