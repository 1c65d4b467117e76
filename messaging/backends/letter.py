"""Letters: print-ready HTML files, one per letter, in a dated batch folder for the print
house (`<MESSAGING_OUTBOX_DIR>/letters/<YYYY-MM-DD>/<message id>.html`). The page itself
(A4, address window, date, body, disclosures) is composed by messaging; this backend files it
exactly once."""

from __future__ import annotations

from pathlib import Path

from django.utils import timezone

from messaging.backends.base import BackendError, ChannelBackend, HandOff, Outbound
from messaging.backends.files import outbox_dir, write_once


class LetterBatchBackend(ChannelBackend):
    name = "letter-batch"
    idempotent = True

    def send(self, outbound: Outbound) -> HandOff:
        if not outbound.html:
            raise BackendError("A letter needs its printable page.", permanent=True)
        existing = self._find(outbound.message_id)
        if existing is not None:
            return existing
        batch = timezone.localdate().isoformat()
        path = Path(outbox_dir("letters", batch), f"{outbound.message_id}.html")
        write_once(path, outbound.html.encode())
        return HandOff(provider=self.name, provider_id=f"{batch}/{outbound.message_id}")

    def _find(self, message_id: int) -> HandOff | None:
        for path in Path(outbox_dir("letters")).glob(f"*/{message_id}.html"):
            return HandOff(provider=self.name, provider_id=f"{path.parent.name}/{message_id}")
        return None

    def reconcile(self, outbound: Outbound) -> HandOff | bool:
        return self._find(outbound.message_id) or False
