"""``python -m pytest_clustermesh.scenario schema``: print the scenario JSON Schema.

The published copy, ``pytest_clustermesh/scenario.schema.json``, is checked against this output
by the test suite, so it cannot drift from the loader.
"""

from __future__ import annotations

import json
import sys

from .dsl import json_schema


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["schema"]:
        print("usage: python -m pytest_clustermesh.scenario schema", file=sys.stderr)
        return 2
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
