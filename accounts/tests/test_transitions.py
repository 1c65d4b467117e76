import pytest

from accounts import services
from accounts.models import (
    ACCOUNT_TRANSITIONS,
    Account,
    AccountStatus,
    Activity,
    ActivityKind,
    TransitionError,
)
from accounts.tests.factories import place, row

pytestmark = pytest.mark.django_db

ALL = [s.value for s in AccountStatus]
ALLOWED = [(a, b) for a in ALL for b in ALL if b in ACCOUNT_TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a in ALL for b in ALL if b not in ACCOUNT_TRANSITIONS[a]]


def test_final_states_allow_nothing():
    for final in ("paid", "settled", "recalled", "closed"):
        assert ACCOUNT_TRANSITIONS[final] == frozenset()


@pytest.mark.parametrize(("old", "new"), ALLOWED)
def test_allowed_transition_changes_status(old, new):
    account = Account(status=old)
    assert account.transition(new) == old
    assert account.status == new


@pytest.mark.parametrize(("old", "new"), FORBIDDEN)
def test_forbidden_transition_raises_and_keeps_status(old, new):
    account = Account(status=old)
    with pytest.raises(TransitionError):
        account.transition(new)
    assert account.status == old


def test_unknown_status_is_refused():
    with pytest.raises(TransitionError, match="Unknown"):
        Account(status="active").transition("vanished")


def test_account_transition_service_saves_and_writes_timeline(creditor):
    (account,) = place(creditor, row(1))
    services.account_transition(account=account, status=AccountStatus.PAUSED, actor="test")
    account.refresh_from_db()
    assert account.status == "paused"
    entry = Activity.objects.filter(account=account, kind=ActivityKind.STATUS_CHANGED).get()
    assert entry.data == {"from": "active", "to": "paused"}


def test_forbidden_transition_through_service_writes_nothing(creditor):
    (account,) = place(creditor, row(1))
    services.account_recall(account=account, actor="test")
    before = Activity.objects.count()
    with pytest.raises(TransitionError):
        services.account_transition(account=account, status=AccountStatus.ACTIVE, actor="test")
    account.refresh_from_db()
    assert account.status == "recalled"
    assert Activity.objects.count() == before


def test_timeline_entries_cannot_be_rewritten(creditor):
    (account,) = place(creditor, row(1))
    entry = Activity.objects.filter(account=account).first()
    entry.summary = "rewritten"
    with pytest.raises(Exception, match="append-only"):
        entry.save()
