"""pyproject.toml's runtime dependencies pinned at their lower bounds, as pip constraints:
`make test-lowest` installs reckon with them and runs the tests, so that the ranges
pyproject.toml promises (for installing into an existing Dagster deployment) hold."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

LOWER = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def main(pyproject: Path) -> None:
    for dependency in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        match = LOWER.match(dependency)
        if match is None:
            sys.exit(f"{dependency!r} has no lower bound (>=) in {pyproject}")
        print(f"{match.group(1)}=={match.group(2)}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))
