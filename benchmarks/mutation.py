"""Mutation testing of the safety-critical modules, with mutmut; prints the score per module and
the run time. Not part of ``.ci/run``: a full run takes tens of minutes. See docs/mutation.md.

    python benchmarks/mutation.py                 # every group
    python benchmarks/mutation.py core cleanup    # some groups (see GROUPS)
    python benchmarks/mutation.py --survivors     # also list the surviving mutants
    python benchmarks/mutation.py policy --resume # go on with an interrupted run of a group
    python benchmarks/mutation.py policy --resume --sample 250
                                                  # only a random sample of the rest
    python benchmarks/mutation.py policy --recheck tests/unit/test_mutation_pins_parse.py
                                                  # survivors against tests written since

Each group runs on its own: the tree is copied (tracked and untracked files, without virtual
environments or caches) to a work directory per group, and mutmut runs there, with
``[tool.mutmut]`` of pyproject.toml narrowed to the group's modules and tests, so a mutant runs
only the tests that pin its module (those of them that call its function). The working tree is
never mutated; ``mutmut show NAME`` in a group's work directory shows a mutant.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = Path(os.environ.get("TMPDIR", "/tmp")) / "pytest-clustermesh-mutation"


@dataclass(frozen=True)
class Group:
    modules: tuple[str, ...]
    """Globs of the files to mutate, relative to the repository root."""
    tests: tuple[str, ...]
    """The tests that pin them; mutmut runs, per mutant, those that call its function."""
    functions: tuple[str, ...] = ()
    """Only these functions' mutants (mutmut name globs); default: every function."""


GROUPS = {
    # Stable modules: the verdict, the judgement and the run-to-run diff.
    "core": Group(
        (
            "pytest_clustermesh/runner.py",
            "pytest_clustermesh/verdicts.py",
            "pytest_clustermesh/reports/baseline.py",
        ),
        (
            "tests/unit/test_verdicts.py",
            "tests/unit/test_reconcile.py",
            "tests/unit/test_mutation_pins.py",
            "tests/kubernetes/test_evidence_pure.py",
            "tests/reports/test_results_and_baseline.py",
            "tests/reports/test_tables_and_diffs.py",
            "tests/reports/test_baseline_keys.py",
        ),
    ),
    # Reading what curl did: pure functions, pinned by pure tests.
    "curl": Group(
        ("pytest_clustermesh/kubernetes/classify.py", "pytest_clustermesh/kubernetes/commands.py"),
        (
            "tests/kubernetes/test_classify.py",
            "tests/kubernetes/test_commands.py",
            "tests/kubernetes/test_pure.py",
            "tests/kubernetes/test_probe_integrity_more.py",
            "tests/kubernetes/test_l4_classify.py",
            "tests/kubernetes/test_l4_commands.py",
            "tests/kubernetes/test_apiserver_pure.py",
            "tests/kubernetes/test_mutation_pins_probing.py",
            "tests/kubernetes/test_mutation_pins_classify.py",
            "tests/kubernetes/test_mutation_pins_curl.py",
        ),
    ),
    "cleanup": Group(
        ("pytest_clustermesh/kubernetes/cleanup.py",),
        (
            "tests/kubernetes/test_pure.py",
            "tests/kubernetes/test_cleanup_safety.py",
            "tests/kubernetes/test_mutation_pins_cleanup.py",
            "tests/unit/test_mutation_pins.py",
        ),
    ),
    # Probing runs against the emulated API server, the slowest group by far: its mutants are
    # those of the functions that decide what a round's outcome means (docs/mutation.md).
    "probing": Group(
        ("pytest_clustermesh/kubernetes/probing.py",),
        (
            "tests/kubernetes/test_evidence_pure.py",
            "tests/kubernetes/test_probe_integrity.py",
            "tests/kubernetes/test_probe_integrity_more.py",
            "tests/kubernetes/test_mutation_pins_probing.py",
        ),
        tuple(
            f"pytest_clustermesh.kubernetes.probing.{name}__mutmut_*"
            for name in (
                "x__final",
                "x__again",
                "x__confirmed",
                "x__accepts",
                "x__recheck",
                "x__no_backend_drop",
                "x__batch_results",
                "x__expects_denial",
                "x__ready",
                "xǁSnapshotǁchanged",
                "xǁSnapshotǁbackends",
            )
        ),
    ),
    "policy": Group(
        ("pytest_clustermesh/policy/*",),
        (
            "tests/unit/test_policy_model.py",
            "tests/unit/test_explain.py",
            "tests/unit/test_pairs.py",
            "tests/unit/test_kcnp_parse.py",
            "tests/unit/test_kcnp_decide.py",
            "tests/unit/test_externals.py",
            "tests/unit/test_kube_apiserver.py",
            "tests/unit/test_dns_queries.py",
            "tests/unit/test_mutation_pins_policy.py",
            "tests/unit/test_mutation_pins_decide.py",
            "tests/unit/test_mutation_pins_parse.py",
            "tests/unit/test_mutation_pins_rules.py",
            "tests/unit/test_mutation_pins_tiers.py",
            "tests/unit/test_mutation_pins_validate.py",
        ),
    ),
    "scenario": Group(
        ("pytest_clustermesh/facts.py", "pytest_clustermesh/scenario/load.py"),
        (
            "tests/badinput/test_when.py",
            "tests/badinput/test_scenarios.py",
            "tests/badinput/test_still_accepted.py",
            "tests/badinput/test_policy_files.py",
            "tests/unit/test_materialize.py",
            "tests/unit/test_mixed_mesh.py",
            "tests/unit/test_scenario_pins.py",
            "tests/unit/test_mutation_pins_scenario.py",
        ),
    ),
}

SKIP = {".venv", ".git", "mutants", "__pycache__", ".mypy_cache", ".ruff_cache", ".hypothesis"}
RESULT = re.compile(r"^\s*(?P<name>[\w.]+)__mutmut_\d+: (?P<status>.+?)\s*$")


def copy_tree(workdir: Path, commit: str | None) -> None:
    """The tree as it is now into ``workdir``.

    With ``commit``, tracked files come from that commit instead (``git archive``, read-only),
    and only untracked files under ``tests/`` and pyproject.toml from the working tree: a run
    then measures the committed code with the new tests, whatever other work has half-changed
    (or half-added) meanwhile."""
    git = ["git", "ls-files", "-z", "--others", "--exclude-standard"]
    if commit is None:
        git.append("--cached")
    else:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
    listed = subprocess.run(git, cwd=ROOT, check=True, capture_output=True).stdout.decode()
    names = list(filter(None, listed.split("\0")))
    if commit is not None:
        # Only new tests: an untracked module is someone's unfinished work, not the commit's.
        names = [name for name in names if name.startswith("tests/")]
        names.append("pyproject.toml")
    for name in names:
        source = ROOT / name
        if set(Path(name).parts) & SKIP or not source.is_file():
            continue
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def narrow_config(workdir: Path, groups: list[Group]) -> None:
    """Rewrite ``[tool.mutmut]`` of the copied pyproject.toml for the chosen groups."""
    path = workdir / "pyproject.toml"
    text = path.read_text()
    config = tomllib.loads(text)["tool"]["mutmut"]
    modules = sorted({m for g in groups for m in g.modules})
    tests = sorted({t for g in groups for t in g.tests if (workdir / t).exists()})
    lines = [
        "[tool.mutmut]",
        f"source_paths = {config['source_paths']!r}",
        f"only_mutate = {modules!r}",
        f"also_copy = {config['also_copy']!r}",
        f"pytest_add_cli_args = {config['pytest_add_cli_args']!r}",
        f"pytest_add_cli_args_test_selection = {tests!r}",
    ]
    start = text.index("[tool.mutmut]")
    end = text.index("\n[", start + 1)
    path.write_text(text[:start] + "\n".join(lines).replace("'", '"') + "\n" + text[end:])


def module_of(function: str) -> str:
    """``pytest_clustermesh.policy.parse.x_rule`` -> ``pytest_clustermesh/policy/parse.py``."""
    parts = function.split(".")
    for n in range(len(parts), 0, -1):
        candidate = "/".join(parts[:n]) + ".py"
        if (ROOT / candidate).exists():
            return candidate
    return function


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("groups", nargs="*", help=f"of {', '.join(GROUPS)} (default: all)")
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="one subfolder per group")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants")
    parser.add_argument(
        "--commit",
        help="take tracked files from this commit (e.g. HEAD), untracked tests/ files and "
        "pyproject.toml from the working tree (default: the working tree as it is); with "
        "--recheck, the test files as they were at this commit (that of the run's code)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="go on with the run in the group's work directory instead of starting afresh: its "
        "code and tests brought up to date, it runs the mutants without a result (those of "
        "changed functions included)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="with --resume: run only N mutants drawn at random from those not yet run, and "
        "estimate the score of all of them from these",
    )
    parser.add_argument("--seed", type=int, default=1, help="of --sample's draw (default 1)")
    parser.add_argument(
        "--report", action="store_true", help="only print the results already in the work directory"
    )
    parser.add_argument(
        "--recheck",
        nargs="+",
        metavar="TEST",
        help="run each surviving mutant of the groups against these test files (copied from the "
        "working tree) and count those they kill; see docs/mutation.md",
    )
    args = parser.parse_args()
    if args.sample is not None and not args.resume:
        parser.error("--sample draws from the mutants a run left: use it with --resume")
    unknown = set(args.groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group {', '.join(sorted(unknown))}: choose from {', '.join(GROUPS)}")
    total = Counter[str]()
    minutes = 0.0
    failed = False
    print(f"{'module':<46} {'mutants':>7} {'killed':>7} {'score':>6}  other outcomes")
    for name in args.groups or list(GROUPS):
        workdir = args.workdir / name
        counts: dict[str, Counter[str]] | None
        if args.report or args.recheck:
            elapsed = (
                recheck(name, workdir, args.recheck, args.max_children, args.commit)
                if args.recheck
                else 0.0
            )
            counts, survivors = results(name, workdir)
        else:
            counts, survivors, elapsed = run_group(
                name,
                workdir,
                args.max_children,
                args.commit,
                args.resume,
                None if args.sample is None else (args.sample, args.seed),
            )
        if counts is None:
            failed = True
            continue
        minutes += elapsed / 60
        for module, count in sorted(counts.items()):
            total += count
            print(_row(module, count))
        done = "results on record" if args.report else "recheck" if args.recheck else "run"
        print(f"  group {name}: {done}, {elapsed / 60:.1f} min")
        estimate = sample_estimate(workdir)
        if estimate:
            print(estimate)
        if args.survivors:
            print("\n".join(f"    {line}" for line in survivors))
    print(_row("total", total))
    how = (
        "results on record"
        if args.report
        else f"recheck of the survivors with {' '.join(args.recheck)}"
        if args.recheck
        else f"mutmut run --max-children {args.max_children}"
    )
    print(f"run time: {minutes:.1f} min ({how})")
    return 1 if failed else 0


MUTMUT = Path(sys.executable).with_name("mutmut")
RECHECKED = "mutants/rechecked.json"
"""Mutants a recheck killed, by name, with the test file that killed each."""


def run_group(
    name: str,
    workdir: Path,
    max_children: int,
    commit: str | None,
    resume: bool = False,
    sample: tuple[int, int] | None = None,
) -> tuple[dict[str, Counter[str]] | None, list[str], float]:
    """Run mutmut on one group in its own work directory: per module, how many mutants ended
    how; the surviving mutants; the seconds it took. ``resume`` goes on in the work directory,
    brought up to date (:func:`refresh`); ``sample`` (size, seed) runs only that many of the
    mutants not yet run, drawn at random."""
    group = GROUPS[name]
    if resume:
        refresh(workdir, group, commit)
        if sample:
            _generate(workdir)
    else:
        # A fresh copy: mutmut decides by modification time what to copy again into mutants/,
        # and files from git archive carry the commit's time.
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        copy_tree(workdir, commit)
        narrow_config(workdir, [group])
    # Named mutants are run again even when they have a result, so a resumed run names none:
    # mutmut then runs only those without one (the config's modules are the group's).
    patterns = (
        draw(workdir, *sample)
        if sample
        else []
        if resume
        else list(group.functions)
        or [m.removesuffix(".py").replace("/", ".").replace("*", "") + "*" for m in group.modules]
    )
    started = time.monotonic()
    run = subprocess.run(
        [str(MUTMUT), "run", "--max-children", str(max_children), *patterns],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - started
    if run.returncode != 0:
        print(run.stdout[-3000:], run.stderr[-3000:], sep="\n", file=sys.stderr)
        print(f"group {name}: mutmut run failed (exit code {run.returncode})", file=sys.stderr)
        return None, [], elapsed
    counts, survivors = results(name, workdir)
    return counts, survivors, elapsed


def refresh(workdir: Path, group: Group, commit: str | None) -> None:
    """Bring a work directory up to date for a resumed run: the tests (and the group's list of
    them) and the code, as a fresh run would take them. Changed files get a new modification
    time, by which mutmut tells what to mutate again; it then forgets the results of the
    functions that changed, and keeps the others'."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch)
        copy_tree(fresh, commit)
        shutil.rmtree(workdir / "tests", ignore_errors=True)
        for source in fresh.rglob("*"):
            target = workdir / source.relative_to(fresh)
            if source.is_dir() or (target.exists() and filecmp.cmp(source, target, False)):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    narrow_config(workdir, [group])


def _generate(workdir: Path) -> None:
    """Let mutmut write the mutants of the code in ``workdir`` and forget the results of the
    functions that changed, without running any, so that a sample is drawn from what the next
    run would run. mutmut has no command for that alone: a run filtered to a name no mutant
    has does it, then stops ("nothing matches"), and its failure is expected."""
    subprocess.run(
        [str(MUTMUT), "run", "no.such.mutant"], cwd=workdir, capture_output=True, check=False
    )


SAMPLE = "mutants/sample.json"
KILLING_CODES = {1, 3, 24, -24, 36, 152, 255}
"""The exit codes mutmut counts as killed or timeout (``mutmut.stats.status_by_exit_code``)."""


def draw(workdir: Path, size: int, seed: int) -> list[str]:
    """``size`` mutants drawn at random from those the run has not run yet; recorded in
    ``SAMPLE`` with how many there were to draw from. A sample already recorded grows: the new
    mutants come from those it left, so the whole stays a uniform draw from the first
    population."""
    waiting = sorted(
        name
        for meta in (workdir / "mutants").rglob("*.py.meta")
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items()
        if code is None
    )
    path = workdir / SAMPLE
    record: dict[str, Any] = (
        json.loads(path.read_text())
        if path.exists()
        else {"seed": seed, "population": len(waiting), "drawn": []}
    )
    left = sorted(set(waiting) - set(record["drawn"]))
    drawn = random.Random(f"{seed}/{len(record['drawn'])}").sample(left, min(size, len(left)))
    record["drawn"] = sorted([*record["drawn"], *drawn])
    path.write_text(json.dumps(record, indent=1))
    return drawn


def sample_estimate(workdir: Path) -> str | None:
    """What the recorded sample says of all the mutants it was drawn from: its kill rate with
    a 95 % Wilson interval."""
    path = workdir / SAMPLE
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    codes = {
        name: code
        for meta in (workdir / "mutants").rglob("*.py.meta")
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items()
    }
    rechecked = _rechecked(workdir)
    ran = [name for name in record["drawn"] if codes.get(name) is not None]
    killed = sum(1 for name in ran if codes[name] in KILLING_CODES or name in rechecked)
    if not ran:
        return None
    low, high = _wilson(killed, len(ran))
    return (
        f"  sample: {killed} of {len(ran)} killed ({100 * killed / len(ran):.1f} %, 95 % "
        f"interval {100 * low:.1f}-{100 * high:.1f} %), drawn (seed {record['seed']}) from the "
        f"{record['population']} mutants not run before it"
    )


def _wilson(killed: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def results(name: str, workdir: Path) -> tuple[dict[str, Counter[str]], list[str]]:
    """Per module, how many of the group's mutants ended how (a recheck's kills counted as
    killed); the mutants that survived both."""
    group = GROUPS[name]
    rechecked = _rechecked(workdir)
    listed = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: dict[str, Counter[str]] = {}
    survivors: list[str] = []
    for line in listed.splitlines():
        found = RESULT.match(line)
        if found is None:
            continue
        module = module_of(found["name"])
        if not any(Path(module).match(m) for m in group.modules):
            continue
        status = found["status"]
        mutant = line.strip().split(":")[0]
        if status not in (*KILLED, NOT_CHECKED) and mutant in rechecked:
            status = "killed"
        counts.setdefault(module, Counter())[status] += 1
        if status not in (*KILLED, NOT_CHECKED):
            survivors.append(line.strip())
    return counts, survivors


def _rechecked(workdir: Path) -> dict[str, str]:
    path = workdir / RECHECKED
    return json.loads(path.read_text()) if path.exists() else {}


def recheck(
    name: str, workdir: Path, tests: list[str], max_children: int = 2, commit: str | None = None
) -> float:
    """Run each mutant of the group that survived (or had no test) against ``tests`` alone.

    mutmut runs a mutant against every selected test that calls its function, all of which the
    survivors already passed; a test written since would run last, after a minute of those. So
    the new tests run here on their own, with mutmut's trampoline (``MUTANT_UNDER_TEST`` in
    ``mutants/``), and a mutant one of them fails is recorded as killed in ``RECHECKED``. List
    them in the group's tests too, so that a fresh run counts them.

    A fresh process also measures what mutmut's forked runs cannot: objects a test module
    builds at collection (docs/mutation.md, "The tool"). ``commit`` takes the test files as
    they were at that commit, for a work directory whose code is that commit's."""
    _, survivors = results(name, workdir)
    for test in tests:
        target = workdir / "mutants" / test
        target.parent.mkdir(parents=True, exist_ok=True)
        if commit is None:
            shutil.copy2(ROOT / test, target)
        else:  # the tests as they were at the run's commit, for code that changed since
            shown = subprocess.run(
                ["git", "show", f"{commit}:{test}"], cwd=ROOT, check=True, capture_output=True
            )
            target.write_bytes(shown.stdout)
    rechecked = _rechecked(workdir)
    started = time.monotonic()
    if _pytest(workdir, tests, "none").returncode != 0:  # a mutant of nothing: the clean code
        sys.exit(f"recheck: {' '.join(tests)} do not pass on the unmutated code in {workdir}")
    mutants = [line.split(":")[0] for line in survivors]
    with ThreadPoolExecutor(max_children) as pool:  # each runs its own pytest process
        runs = pool.map(lambda mutant: _pytest(workdir, tests, mutant), mutants)
        for mutant, run in zip(mutants, runs, strict=True):
            if run.returncode == 1:  # 0: all passed; anything else is no verdict
                rechecked[mutant] = " ".join(tests)
    (workdir / RECHECKED).write_text(json.dumps(rechecked, indent=1, sort_keys=True))
    return time.monotonic() - started


def _pytest(workdir: Path, tests: list[str], mutant: str) -> subprocess.CompletedProcess[str]:
    """``tests`` in ``mutants/``, stopping at the first failure, with ``mutant`` switched on."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            *tests,
        ],
        cwd=workdir / "mutants",
        env={**os.environ, "MUTANT_UNDER_TEST": mutant},
        capture_output=True,
        text=True,
    )


KILLED = ("killed", "timeout")
NOT_CHECKED = "not checked"


def _row(name: str, count: Counter[str]) -> str:
    """Killed (or timed out) among the mutants that ran; those left unchecked (outside the
    group's functions) are only counted."""
    mutants = sum(v for k, v in count.items() if k != NOT_CHECKED)
    killed = sum(count[status] for status in KILLED)
    other = ", ".join(f"{v} {k}" for k, v in sorted(count.items()) if k != "killed")
    score = 100 * killed / mutants if mutants else 100.0
    return f"{name:<46} {mutants:>7} {killed:>7} {score:>5.1f}%  {other}"


if __name__ == "__main__":
    sys.exit(main())
