"""Deleting the demo history's creditor with every row that refers to it, at any depth.

The history's rows are spread over every app (accounts, messages, events, decisions, the
compliance ledger, portal requests...), most behind PROTECT foreign keys. `creditor_delete`
walks the relations from the creditor down and deletes the deepest rows first. For the demo
only (`manage.py demo_history --reset`): production never deletes a creditor's history.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from accounts.models import Creditor


def _purge(queryset: QuerySet, stack: tuple[type, ...]) -> None:
    model = queryset.model
    # Every reverse relation, the hidden ones (related_name="+") included.
    for rel in model._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete) or rel.many_to_many:
            continue
        related = rel.related_model
        if related in stack or related is model:
            continue
        dependents = related._base_manager.filter(**{f"{rel.field.name}__in": queryset})
        if dependents.exists():
            _purge(dependents, (*stack, model))
    queryset.delete()


def creditor_delete(creditor: Creditor) -> None:
    with transaction.atomic():
        _purge(Creditor.objects.filter(pk=creditor.pk), ())
