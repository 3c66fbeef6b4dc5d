"""Reports people read: truth tables in the terminal, pytest-html, JUnit XML, a JSON results
file, and the run-to-run diff against a baseline (the Cilium upgrade check).

- :mod:`.records`: one serialisable record per scenario item;
- :mod:`.truthtable`, :mod:`.baseline`: tables and diffs over records (pytest-free);
- :mod:`.resultsfile`: the JSON file, which is also the baseline format;
- :mod:`.htmlrender`, :mod:`.junit`, :mod:`.text`: output formats;
- :mod:`.plugin`, :mod:`.htmlreport`, :mod:`.options`: the pytest glue.
"""

from __future__ import annotations

from .options import add_options
from .plugin import ReportsPlugin

__all__ = ["ReportsPlugin", "add_options"]
