"""One way to change a status: check the edge, save the row and write its audit row, together.

Every state machine of the platform (the account's, the message's, the trained model's) is a
`StateMachine`: its allowed edges and how it words a refusal. The model's `transition` method
checks the edge with it and changes memory only; services change a status with
`transition_save`, the one call that checks, saves and writes the audit row in one
transaction, so a status cannot change without its record (django-oscar's
`Order.set_status`, Zulip's `do_*` functions writing `RealmAuditLog`).

A small module rather than django-fsm-2 or viewflow.fsm: the three machines are edge tables
of a few lines, their audit rows live in three different apps (the debtor's timeline, the
message's timeline entries, the model's own status fields), and a library would add a
dependency and decorators for what is one function here.

Django-bound only through `transaction`; it imports no model, so every app can use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction


class AuditMissing(RuntimeError):
    """A status change whose audit callback returned no row: a programming error."""


@dataclass(frozen=True, slots=True)
class StateMachine:
    """The allowed edges of one status field and the words for refusing one.

    `refused` and `unknown` are format strings: `{old}` and `{new}` are the statuses' labels in
    lower case (`{new!r}` in `unknown` is the raw value asked for).
    """

    edges: Mapping[str, frozenset[str]]
    choices: type[models.TextChoices]
    error: type[Exception]
    refused: str
    unknown: str

    def allows(self, old: str, new: str) -> bool:
        return new in self.edges.get(old, frozenset())

    def check(self, old: str, new: str) -> None:
        """Raise `error` unless `old -> new` is an allowed edge."""
        if new not in self.edges:
            raise self.error(self.unknown.format(new=new))
        if not self.allows(old, new):
            labels = dict(self.choices.choices)
            raise self.error(
                self.refused.format(
                    old=str(labels.get(old, old)).lower(), new=str(labels.get(new, new)).lower()
                )
            )


def transition_save(
    obj: Any,
    status: str,
    *,
    audit: Callable[[str], models.Model | Iterable[models.Model] | None],
    fields: Iterable[str] = (),
    **how: Any,
) -> str:
    """Move `obj` to `status`, save it and write its audit row(s), in one transaction.

    `obj.transition(status, **how)` checks the edge (raising the machine's `TransitionError`
    before anything is written) and changes memory; the model's `STATE_FIELDS` plus `fields`
    are saved; then `audit(old_status)` returns the audit row or rows, and any not yet saved
    is saved here. No row at all raises `AuditMissing`, which rolls the change back. Returns
    the old status. The caller holds the row's lock (`select_for_update`) when it matters.
    """
    with transaction.atomic():
        old = obj.transition(status, **how)
        obj.save(update_fields=[*obj.STATE_FIELDS, *fields])
        made = audit(old)
        rows = [made] if isinstance(made, models.Model) else list(made or ())
        if not rows:
            raise AuditMissing(f"{type(obj).__name__} {obj.pk}: {old} -> {status} wrote no audit")
        for row in rows:
            if row.pk is None:
                row.save()
    return old
