"""An agency superuser's walk of both admins: no page and no form answers with a server error.

The two creditors of `tests.test_creditor_users_pages` (its `book`), walked as an agency
superuser, who sees every creditor's rows and the pages a creditor user is refused (add forms,
every creditor's detail pages), with that module's walk: both home pages, every URL of the
registry that takes no argument, every admin link each page shows.

- Every page opens without a server error, and the walk reaches the agency's own pages.
- The forms of one page of each kind are posted: as rendered; with every field at once set to
  text, a NUL character, an over-long value and a negative number; and with each field in turn
  set to text where a number or an id may belong (a fixed sample on a large form). Each
  answers with the form again or a redirect. Sign-out, deletions, erasure and the user's own
  password and two-factor forms are left out: they end the walk or remove what it reads.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Debtor
from accounts.tests.factories import UserFactory
from tests.test_creditor_users_pages import Walk, book

pytestmark = pytest.mark.django_db
__all__ = ["book"]  # the fixture the test takes

ODD_VALUES = ("abc", "\x00", "x" * 3000, "-1")  # in every field at once
MAX_ONE_BY_ONE = 20  # fields set to "abc" one at a time, per form
LEFT_OUT = re.compile(
    r"logout|delete|erase|unpublish|revert|/2fa/|password|/lock/|/unlock/|/workflow|/copy/|/move/"
)


class OperatorWalk(Walk):
    """A walk for agency staff, who see every creditor: only server errors are problems."""

    def check(self, url: str, response, body: str) -> None:
        if response.status_code >= 500:
            self.problems.append(f"{url}: {response.status_code}")


@dataclass
class _Form:
    """A POST form as a browser would submit it untouched: its fields' values and names."""

    action: str
    data: dict[str, str] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)


class _PostForms(HTMLParser):
    """The POST forms of a page (inputs, selects with their selected or first option,
    textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self._form: _Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            is_post = a.get("method", "").lower() == "post"
            self._form = _Form(a.get("action", "")) if is_post else None
            if self._form is not None:
                self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "").lower()
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            self._form.names.add(a["name"])
            if kind not in ("checkbox", "radio"):
                self._form.data.setdefault(a["name"], a.get("value", ""))
            elif "checked" in a:
                self._form.data.setdefault(a["name"], a.get("value", "on"))
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form.names.add(a["name"])
        elif tag == "option" and self._select:
            if "selected" in a or self._select not in self._form.data:
                self._form.data[self._select] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._form.names.add(a["name"])
            self._form.data[a["name"]] = ""

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            self._form.data[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _some(names: list[str], seed: str) -> list[str]:
    """The fields to try one by one: all of a small form's, a fixed sample of a large one's
    (the compliance region's form has over 200)."""
    if len(names) <= MAX_ONE_BY_ONE:
        return names
    return random.Random(seed).sample(names, MAX_ONE_BY_ONE)


def _forms(client, url: str) -> list[_Form]:
    """The POST forms on the page at `url` that the walk may submit (action made absolute)."""
    response = client.get(url)
    if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
        return []
    parser = _PostForms()
    parser.feed(response.content.decode("utf-8", "replace"))
    forms = []
    for form in parser.forms:
        form.action = form.action or url.split("?")[0]
        if form.action.startswith("/") and not LEFT_OUT.search(form.action):
            forms.append(form)
    return forms


def _post_forms(client, seen: dict[str, int]) -> tuple[list[str], int, int]:
    """Post the forms of one page of each kind: (problems, kinds of page, posts)."""
    problems: list[str] = []
    kinds: set[str] = set()
    posted = 0
    for url, status in seen.items():
        kind = re.sub(r"\d+|evt_\w+", "N", url.split("?")[0])
        if status != 200 or kind in kinds or LEFT_OUT.search(url):
            continue
        for form in _forms(client, url):
            kinds.add(kind)
            data, names = form.data, sorted(form.names - {"csrfmiddlewaretoken"})
            tries = [data] + [{**data, **dict.fromkeys(names, odd)} for odd in ODD_VALUES]
            tries += [{**data, name: "abc"} for name in _some(names, url)]
            for values in tries:
                response = client.post(form.action, values)
                posted += 1
                if response.status_code >= 500:
                    changed = {k: v[:12] for k, v in values.items() if data.get(k) != v}
                    problems.append(f"{form.action} {changed}: {response.status_code}")
    return problems, len(kinds), posted


def test_no_admin_page_or_form_answers_an_agency_superuser_with_a_server_error(book):
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="agency-ops", is_staff=True, is_superuser=True))
    walk = OperatorWalk(client, book[0])
    walk.run_from_everywhere()
    assert not walk.problems, "\n".join(walk.problems)
    # It reached the pages only agency staff open (it can fail: a broken menu or link).
    debtor = Debtor.objects.filter(creditor=book[1]).first()
    expected = [
        reverse("admin:accounts_debtor_add"),
        reverse("admin:accounts_creditor_add"),
        reverse("admin:accounts_debtor_change", args=[debtor.pk]),
        reverse("casework_debtors:inspect", args=[debtor.pk]),
        reverse("wagtailsnippets_messaging_messagevariant:add"),
    ]
    unreached = [url for url in expected if walk.seen.get(url) != 200]
    assert not unreached, f"the walk did not open these: {unreached}"

    problems, kinds, posted = _post_forms(client, walk.seen)
    assert not problems, "\n".join(problems)
    assert kinds > 40 and posted > 500, (kinds, posted)  # the forms were found and posted
