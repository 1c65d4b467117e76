"""Finding a debtor from what an operator has at hand: an account or debtor reference, a name
(misspelt or not), an e-mail address or a phone number, in one search box.

Every word of the query must match one of the debtor's reference, first or last name, e-mail
or one of their accounts' references (case-insensitive, anywhere in the text); a query that
reads as a phone number also matches the stored E.164 number by its digits, so
"(617) 555-0187", "+1 617 555 0187" and "06 12 34 56 78" (national, with the trunk 0) all
find theirs.

On PostgreSQL the names also match by trigram word similarity (`pg_trgm`: "Lovelase" finds
"Lovelace"), results come best match first, and migration `casework.0001` gives every searched
column a GIN trigram index, so the substring and similarity matches are index scans. Other
databases (SQLite in development) match substrings only (`icontains`) and sort by name.
"""

from __future__ import annotations

import re

from django.contrib.postgres.search import TrigramWordSimilarity
from django.db import connection
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Greatest

from accounts.models import Account

MAX_QUERY = 100  # characters: a reference, a name or an address; more is not a search
MAX_WORDS = 5
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PHONE = re.compile(r"^\+?[\d\s().\-/]+$")
MIN_PHONE_DIGITS = 6
MAX_ACCOUNT_HITS = 500


def query_clean(raw: object) -> str:
    """The query as searched: control characters (NUL included, which PostgreSQL refuses in a
    string) become spaces, runs of spaces one, at most `MAX_QUERY` characters."""
    text = _CONTROL.sub(" ", str(raw or ""))
    return " ".join(text.split())[:MAX_QUERY].strip()


def phone_digits(query: str) -> str:
    """The digits to look for in E.164 numbers, or "" when the query is not a phone number.
    A national number's leading zeros (the trunk prefix) are not part of the E.164 form."""
    if not _PHONE.match(query):
        return ""
    digits = re.sub(r"\D", "", query).lstrip("0")
    return digits if len(digits) >= MIN_PHONE_DIGITS else ""


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _account_debtors(word: str) -> list[int]:
    """The debtors of accounts whose reference contains `word` (at most `MAX_ACCOUNT_HITS`).
    Read apart, as a list, so the debtors' query stays a union of index scans (a subquery
    inside its OR would make it a sequential scan); the list only narrows the viewer's own
    debtors, so it reveals nothing of other creditors."""
    accounts = Account.objects.filter(external_ref__icontains=word).order_by()
    return list(accounts.values_list("debtor_id", flat=True).distinct()[:MAX_ACCOUNT_HITS])


def _word_match(word: str, fuzzy: bool) -> Q:
    match = (
        Q(external_ref__icontains=word)
        | Q(first_name__icontains=word)
        | Q(last_name__icontains=word)
        | Q(email__icontains=word)
        | Q(pk__in=_account_debtors(word))
    )
    if fuzzy and len(word) >= 3:
        match |= Q(last_name__trigram_word_similar=word) | Q(first_name__trigram_word_similar=word)
    return match


def debtors_search(debtors: QuerySet, raw: object, *, ranked: bool = True) -> QuerySet:
    """`debtors` (already scoped to the viewer) narrowed to those matching `raw`; best first
    when `ranked` (exact references, then the closest names)."""
    query = query_clean(raw)
    if not query:
        return debtors.none()
    fuzzy = _postgres()
    match = Q()
    for word in query.split()[:MAX_WORDS]:
        match &= _word_match(word, fuzzy)
    digits = phone_digits(query)
    if digits:
        match |= Q(phone__contains=digits)
    found = debtors.filter(match)
    if not ranked:
        return found
    exact = Q(external_ref__iexact=query) | Q(
        Exists(Account.objects.filter(debtor=OuterRef("pk"), external_ref__iexact=query))
    )
    found = found.annotate(
        exact=Case(When(exact, then=Value(1)), default=Value(0), output_field=IntegerField())
    )
    if not fuzzy:
        return found.order_by("-exact", "last_name", "first_name", "pk")
    return found.annotate(
        closeness=Greatest(
            TrigramWordSimilarity(query, "last_name"),
            TrigramWordSimilarity(query, "first_name"),
            TrigramWordSimilarity(query, "email"),
        )
    ).order_by("-exact", "-closeness", "pk")
