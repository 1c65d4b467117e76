"""Writing one file per message, exactly once: the shared core of the file backends."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from messaging.backends.base import ChannelBackend, HandOff, Outbound


def outbox_dir(*parts: str) -> str:
    """A folder under MESSAGING_OUTBOX_DIR (as a string), created on first use."""
    return _ensure(str(settings.MESSAGING_OUTBOX_DIR), parts)


@lru_cache(maxsize=256)
def _ensure(root: str, parts: tuple[str, ...]) -> str:
    path = Path(root).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def write_once(path: Path | str, data: bytes) -> bool:
    """Create `path` with `data`; False (and nothing written) if it already exists.

    The file appears complete or not at all: it is written under a temporary name and linked
    into place, and `link` fails if the name is taken, so two writers never both succeed.
    """
    path = Path(path)
    if path.exists():
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


class JsonFileBackend(ChannelBackend):
    """Base of the development/benchmark backends: each message as
    `<MESSAGING_OUTBOX_DIR>/<channel>/<message id>.json`, written once (idempotent), so an
    interrupted dispatch can simply run again and `reconcile` can tell from the file."""

    name = "file"
    idempotent = True

    def payload(self, outbound: Outbound) -> dict[str, Any]:
        raise NotImplementedError

    def receipt(self, message_id: int) -> HandOff:
        return HandOff(provider=self.name, provider_id=f"file-{message_id}")

    def _path(self, message_id: int) -> Path:
        return Path(outbox_dir(self.channel), f"{message_id}.json")

    def send(self, outbound: Outbound) -> HandOff:
        write_once(self._path(outbound.message_id), json.dumps(self.payload(outbound)).encode())
        return self.receipt(outbound.message_id)

    def reconcile(self, outbound: Outbound) -> HandOff | bool:
        if self._path(outbound.message_id).exists():
            return self.receipt(outbound.message_id)
        return False
