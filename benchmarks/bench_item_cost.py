"""What a scenario item costs, against a trivial parametrized test, as the item count grows.

Run ``python benchmarks/bench_item_cost.py`` (``--help`` for the knobs). For each size N it
writes a two-cluster scenario of matrix steps with about N items and a test module of N trivial
parametrized tests, runs both in ONE pytest run on the simulated mesh (so machine noise hits
both alike), and prints:

- the time of the scenario's items over that of the trivial tests, collection included
  (target: at most 1.5 at every size);
- the plugin's extra time per item, in microseconds: (scenario - trivial) / N
  (target: at 16k within 1.3x of that at 1k, so the cost per item does not grow with N);
- at the end, how long pytest's own timer says collecting a 10k-item scenario takes
  (``collected N items in X s`` of ``--collect-only``; target: under 2 s).

Both runs leave out hypothesis's pytest plugin, which the project's test extra installs and
which imports all of hypothesis at the end of every session (a second or more): a user's
installation does not have it. Times per group are taken by a small timing plugin written
beside the files: the collect reports of each file's collectors, and
``pytest_runtest_protocol`` (setup, call, teardown and the report hooks) of each item. The
session's end (truth tables, summary) is printed apart.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CLIENTS = 10
SERVERS = 25
"""Per cluster: 2 x 10 clients by 2 x 25 servers is a 1,000-cell matrix step."""

TIMING_PLUGIN = """
import json, time, pytest

TIMES = {"scenario": 0.0, "trivial": 0.0, "scenario_items": 0, "trivial_items": 0}

def _group(path):
    return "scenario" if str(path).endswith(".scenario.yaml") else "trivial"

@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        if getattr(collector, "path", None) and collector.path.name != "conftest.py":
            if collector.path.suffix in (".yaml", ".py") and collector.path.is_file():
                TIMES[_group(collector.path)] += time.perf_counter() - start

@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        group = _group(item.path)
        TIMES[group] += time.perf_counter() - start
        TIMES[group + "_items"] += 1

@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session):
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        TIMES["sessionfinish"] = time.perf_counter() - start

@pytest.hookimpl(wrapper=True)
def pytest_terminal_summary(terminalreporter):
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        TIMES["summary"] = time.perf_counter() - start
        terminalreporter.write_line("ITEM-COST " + json.dumps(TIMES))
"""


def scenario_text(steps: int) -> str:
    """A scenario of ``steps`` matrix steps over 2 x CLIENTS clients and 2 x SERVERS servers,
    under three alternating policies (so the model has rules to decide, not only defaults)."""
    workloads = [f"  c{i}: {{role: client, labels: {{app: c{i}, parity: p{i % 2}}}}}"
                 for i in range(CLIENTS)]  # fmt: skip
    workloads += [f"  s{i}: {{role: server, labels: {{app: s{i}, tier: t{i % 3}}}, port: 8080}}"
                  for i in range(SERVERS)]  # fmt: skip
    policies = textwrap.dedent("""\
        policies:
          even-to-t0:
            inline:
              apiVersion: cilium.io/v2
              kind: CiliumNetworkPolicy
              metadata: {name: even-to-t0}
              spec:
                endpointSelector: {matchLabels: {tier: t0}}
                ingress: [{fromEndpoints: [{matchLabels: {parity: p0}}]}]
          deny-odd-t1:
            inline:
              apiVersion: cilium.io/v2
              kind: CiliumNetworkPolicy
              metadata: {name: deny-odd-t1}
              spec:
                endpointSelector: {matchLabels: {tier: t1}}
                ingress: [{fromEntities: [all]}]
                ingressDeny: [{fromEndpoints: [{matchLabels: {parity: p1}}]}]
        """)
    choices = ["{}", '{"*": [even-to-t0]}', "{cluster1: [even-to-t0, deny-odd-t1]}"]
    step_lines = [
        f"  - {{name: step{n}, policies: {choices[n % 3]}, matrix: {{from: '*/*', to: '*/*'}}}}"
        for n in range(steps)
    ]
    return "\n".join(
        ["name: big", "clusters: [cluster1, cluster2]", "workloads:", *workloads, policies,
         "steps:", *step_lines, ""]
    )  # fmt: skip


def items_per_step() -> int:
    return (2 * CLIENTS) * (2 * SERVERS)


def run_size(items: int, workdir: Path) -> dict[str, float]:
    steps = max(1, round(items / items_per_step()))
    count = steps * items_per_step()
    root = workdir / f"n{count}"
    root.mkdir()
    (root / "big.scenario.yaml").write_text(scenario_text(steps))
    (root / "test_trivial.py").write_text(
        f"import pytest\n\n\n@pytest.mark.parametrize('i', range({count}))\n"
        "def test_trivial(i):\n    pass\n"
    )
    (root / "conftest.py").write_text(TIMING_PLUGIN)
    (root / "pytest.ini").write_text("[pytest]\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-p", "no:hypothesispytest",
         "--mesh-backend=simulated", "-o", "console_output_style=classic"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    match = re.search(r"^ITEM-COST (.*)$", run.stdout, re.M)
    if run.returncode != 0 or match is None:
        raise SystemExit(f"the run failed ({run.returncode}):\n{run.stdout[-3000:]}{run.stderr}")
    times: dict[str, float] = json.loads(match.group(1))
    if times["scenario_items"] != count or times["trivial_items"] != count:
        raise SystemExit(f"expected {count} items of each kind, got {times}")
    times["n"] = count
    return times


def collect_time(items: int, workdir: Path) -> tuple[int, float]:
    """pytest's own ``collected N items in X s`` for a scenario of about ``items`` items."""
    root = workdir / "collect"
    root.mkdir()
    steps = max(1, round(items / items_per_step()))
    (root / "big.scenario.yaml").write_text(scenario_text(steps))
    (root / "pytest.ini").write_text("[pytest]\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "no:hypothesispytest"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    match = re.search(r"(\d+) tests? collected in ([\d.]+)s", run.stdout)
    if match is None:
        raise SystemExit(f"no collection line:\n{run.stdout[-2000:]}{run.stderr}")
    return int(match.group(1)), float(match.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,4000,16000")
    parser.add_argument("--collect-items", type=int, default=10_000)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-item-cost-") as tmp:
        rows = [run_size(size, Path(tmp)) for size in sizes]
        collected, seconds = collect_time(args.collect_items, Path(tmp))
    print(f"{'items':>7} {'scenario s':>11} {'trivial s':>10} {'ratio':>6} {'extra us/item':>14}"
          f" {'session end s':>14}")  # fmt: skip
    for row in rows:
        n = row["n"]
        extra = (row["scenario"] - row["trivial"]) / n * 1e6
        row["extra_us"] = extra
        end = row.get("sessionfinish", 0.0) + row.get("summary", 0.0)
        print(f"{n:>7} {row['scenario']:>11.2f} {row['trivial']:>10.2f} "
              f"{row['scenario'] / row['trivial']:>6.2f} {extra:>14.0f} {end:>14.2f}")  # fmt: skip
    growth = rows[-1]["extra_us"] / rows[0]["extra_us"] if rows[0]["extra_us"] > 0 else 0.0
    print(f"extra us/item at {rows[-1]['n']:.0f} over that at {rows[0]['n']:.0f}: {growth:.2f}"
          " (target <= 1.3)")  # fmt: skip
    print(f"collection of a {collected}-item scenario: {seconds:.2f} s by pytest's timer"
          " (target < 2 s)")  # fmt: skip


if __name__ == "__main__":
    main()
