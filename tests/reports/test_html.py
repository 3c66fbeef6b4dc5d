"""The pytest-html report, read back after its JavaScript ran in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_clustermesh.reports.htmlrender import failure_extras, header_cells, row_cells

from .conftest import SIMULATED, WRONG_ITEM
from .dom import Element, parse
from .records import record

CHROMIUM = next(
    (
        found
        for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
        if (found := shutil.which(name))
    ),
    None,
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs a Chromium binary to run pytest-html's JavaScript "
    "(Debian: apt-get install chromium)",
)


def chromium(profile: Path, *args: str) -> str:
    assert CHROMIUM is not None
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    done = subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=90, check=True
    )
    return done.stdout


def cells(row: Element) -> list[str]:
    return [td.text.strip() for td in row.find("tr", "collapsible").find_all("td")]


def test_cells_and_extras_escape_what_they_show() -> None:
    assert len(header_cells()) == len(row_cells(None)) == 8
    odd = record("c1/<a>", "c2/web", "allow", "dropped", detail="<b>&", explanation=("x<y",))
    text = "".join(row_cells(odd)) + "".join(html for _, html in failure_extras(odd))
    assert "<a>" not in text and "&lt;a&gt;" in text
    assert "<b>&" not in text and "x&lt;y" in text


@needs_chromium
def test_rows_truth_tables_and_extras_after_rendering(
    pytester: pytest.Pytester, wrong_guide: Path, tmp_path: Path
) -> None:
    result = pytester.runpytest("scenarios", SIMULATED, "--html=report/index.html")
    result.assert_outcomes(failed=1, passed=46, skipped=3)
    page = pytester.path / "report" / "index.html"
    assert '<td class="col-scenario">' not in page.read_text(), (
        "rows are rendered by JavaScript; the test must read the page after it ran"
    )

    dom = parse(chromium(tmp_path / "profile", "--dump-dom", page.as_uri()))
    table = dom.by_id("results-table")
    header = [th.text.strip() for th in table.find("thead").find_all("th")]
    assert header == [
        "Result",
        "Test",
        "Scenario",
        "Step",
        "Source",
        "Destination",
        "Expected",
        "Observed",
        "Served by",
        "Attempts",
        "Duration",
        "Links",
    ]
    rows = {cells(row)[1]: row for row in table.find_all("tbody", "results-table-row")}
    assert len(rows) == 50

    failing = rows[WRONG_ITEM]
    assert cells(failing)[:10] == [
        "Failed",
        WRONG_ITEM,
        "guide",
        "policy-on-cluster1",
        "cluster1/test",
        "cluster1/myapp:80",
        "allow",
        "dropped",
        "",
        "1",
    ]
    served = rows[
        "scenarios/guide/guide.scenario.yaml::no-policy::cluster1/test->service/myapp-service:80"
    ]
    assert cells(served)[2:10] == [
        "guide",
        "no-policy",
        "cluster1/test",
        "service/myapp-service:80",
        "allow (cluster1)",
        "allowed",
        "cluster1",
        "1",
    ]

    extras = failing.find("div", "extraHTML").find_all("div", "cm-extra")
    sections = {extra.find("h4").text: extra for extra in extras}
    assert list(sections) == ["Probe output", "Why the model decided so", "Repeat it"]
    assert sections["Probe output"].find("pre").text == (
        "test-cluster1-0 -> myapp-cluster1-0: dropped"
    )
    reasons = [li.text for li in sections["Why the model decided so"].find_all("li")]
    assert reasons[0] == "egress at cluster1: no policy selects the endpoint"
    assert reasons[1].startswith("ingress at cluster1: default deny")
    assert sections["Repeat it"].find("pre").text == (
        f"pytest '{WRONG_ITEM}' --mesh-backend=simulated --sim-cilium-version=1.19"
    )
    passing = rows[
        "scenarios/guide/guide.scenario.yaml::no-policy::cluster1/test->cluster1/myapp:80"
    ]
    assert not passing.find_all("div", "cm-extra")

    steps = {step.attrs["data-step"]: step for step in dom.find_all("details", "cm-step")}
    assert list(steps) == [
        "guide::no-policy",
        "guide::policy-on-cluster1",
        "guide::policy-on-both",
        "guide::cluster-restricted-on-cluster2",
    ]
    assert ["open" in step.attrs for step in steps.values()] == [False, True, False, False]
    wrong = steps["guide::policy-on-cluster1"]
    assert "1 of 12 probes not as expected" in wrong.find("summary").text
    grids = {table.attrs["data-grid"]: table for table in wrong.find_all("table", "cm-truth")}
    assert list(grids) == ["expected", "observed", "difference"]
    columns = [th.text for th in grids["difference"].find("thead").find_all("th")]
    assert columns == ["", "cluster1/myapp", "cluster2/myapp", "service/myapp-service"]
    marked = {
        (tr.find("th").text, columns[i + 1])
        for tr in grids["difference"].find("tbody").find_all("tr")
        for i, td in enumerate(tr.find_all("td"))
        if td.text != "."
    }
    assert marked == {("cluster1/test", "cluster1/myapp")}
    assert dom.find("table", "cm-retries").find("tbody").find_all("tr")[0].text == (
        "guide::no-policy1201"
    )

    shot = tmp_path / "report.png"
    chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,1000", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000


def test_without_html_nothing_is_added(pytester: pytest.Pytester, wrong_guide: Path) -> None:
    """No --html: no HTML plugin object, and reports carry no extras."""
    pytester.makeconftest(
        "def pytest_runtest_logreport(report):\n"
        "    assert not getattr(report, 'extras', None)\n"
        "def pytest_unconfigure(config):\n"
        "    assert config.pluginmanager.get_plugin('clustermesh-reports-html') is None\n"
    )
    result = pytester.runpytest("scenarios", SIMULATED)
    result.assert_outcomes(failed=1, passed=46, skipped=3)
