"""Exit with a clear message when this Python is not one the project supports.

Run by the Makefile before anything is installed, so it must run on any Python, 2.7 included
(no f-strings, no pathlib, no tomllib). The supported range is read from pyproject.toml's
`requires-python` (">=3.11,<3.14"), so it is written down once.
"""

# ruff: noqa: UP020, UP031 (io.open and %-formatting are what Python 2.7 and 3.5 understand)

import io
import os
import re
import sys


def supported_range():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with io.open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as handle:
        text = handle.read()
    spec = re.search(r'^requires-python\s*=\s*"([^"]+)"', text, re.MULTILINE).group(1)
    low = re.search(r">=\s*(\d+)\.(\d+)", spec)
    high = re.search(r"<\s*(\d+)\.(\d+)", spec)
    return (int(low.group(1)), int(low.group(2))), (int(high.group(1)), int(high.group(2)))


def main():
    (low, high) = supported_range()
    here = sys.version_info[:2]
    if low <= here < high:
        return 0
    names = ", ".join("3.%d" % minor for minor in range(low[1], high[1]))
    sys.stderr.write(
        "Python %d.%d (%s) is not supported: this project runs on CPython %s.\n"
        "Install one of those and point make at it, e.g. `make PYTHON=python3.%d run`.\n"
        % (here[0], here[1], sys.executable, names, high[1] - 1)
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
