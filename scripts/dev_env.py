"""Write a development `.env` (DEBUG on, a freshly generated SECRET_KEY) if there is none.

`make run` calls it before anything else, so every `manage.py` command typed afterwards in
the project folder finds the same settings as the running site. An existing file is never
touched: it may hold the developer's own values. Production never uses this file: it sets
its environment itself, and refuses to start without a real SECRET_KEY.

Usage: python scripts/dev_env.py [PATH]   (default: $ENV_FILE, else .env in the project)
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TEMPLATE = """\
# Local development settings, written by `make run` because there was no {name}.
# Never overwritten: edit it, or delete it to have a fresh one written. Not for production:
# there, set the variables in the environment (.env.example lists them all).
DEBUG=1
SECRET_KEY={secret_key}
"""


def write_env(path: Path) -> bool:
    """Create `path` with development settings; False (nothing written) if it exists."""
    text = TEMPLATE.format(name=path.name, secret_key=secrets.token_urlsafe(50))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True


def main(argv: list[str]) -> int:
    target = argv[0] if argv else (os.environ.get("ENV_FILE") or str(ROOT / ".env"))
    path = Path(target)
    if not path.is_absolute():
        path = ROOT / path
    if write_env(path):
        print(f"Wrote {path} (DEBUG=1 and a new SECRET_KEY) for local development.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
