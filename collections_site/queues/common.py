"""What the three work queues share: who may look and who may act, the creditor scope, the
actor name written on the timeline, times on two clocks, how an item is named (the account's
reference and the debtor's name), and the queue's view set shape (an index and one page per
item; no add, edit or delete pages: items change only through the owning app's services)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django import forms
from django.contrib.admin.utils import quote
from django.contrib.auth import get_permission_codename, get_user_model
from django.db.models import Min, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from wagtail.admin.ui.tables import BulkActionsCheckboxColumn, TitleColumn
from wagtail.admin.views import generic
from wagtail.admin.views.bulk_action import BulkAction
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets import ButtonWithDropdown
from wagtail.permission_policies import ModelPermissionPolicy

from accounts.models import Account, Creditor, DomainError
from accounts.tenancy import scope_queryset
from accounts.wagtail_readonly import ListAndInspectViewSetMixin
from compliance.services import debtor_zone
from portal.models import PauseReason
from portal.services import PortalError, pause_request

# Looking needs the model's "view" (or "change") permission; every action its "change".
_ACTIONS = frozenset({"view", "change"})


def actor(request: HttpRequest) -> str:
    """Who did it, as the timeline records staff: `admin:<user id>`."""
    return f"admin:{request.user.pk}"


class QueuePermissionPolicy(ModelPermissionPolicy):
    """Staff with the model's view permission see the queue; with its change permission they
    act on it. Nobody adds or deletes items here."""

    def user_has_permission(self, user, action: str) -> bool:
        if action not in _ACTIONS:
            return False
        if not (user.is_active and user.is_staff):
            return False
        if action == "view" and user.has_perm(self._get_permission_name("change")):
            return True
        return user.has_perm(self._get_permission_name(action))

    def users_with_any_permission(self, actions):
        actions = [a for a in actions if a in _ACTIONS]
        if not actions:
            return get_user_model().objects.none()
        return super().users_with_any_permission(actions).filter(is_active=True, is_staff=True)


def may_act(user, model) -> bool:
    """May `user` act on items of `model` (its change permission)?"""
    codename = get_permission_codename("change", model._meta)
    return bool(
        user.is_active and user.is_staff and user.has_perm(f"{model._meta.app_label}.{codename}")
    )


def scoped(queryset: QuerySet, user, creditor_path: str) -> QuerySet:
    """Only the rows of the creditors `user` may see (agency staff: all)."""
    return scope_queryset(queryset, user, creditor_path)


def operator_time(value: datetime | None, fmt: str = "D Y-m-d H:i") -> str:
    """A stored UTC time on the signed-in operator's clock (Wagtail activates their zone)."""
    return date_format(timezone.localtime(value), fmt) if value else ""


def debtor_time(value: datetime | None, debtor, fmt: str = "D Y-m-d H:i") -> str:
    """A stored UTC time on the debtor's clock, with the zone's name: the zone compliance
    reads their local time in."""
    if value is None:
        return ""
    name, zone = debtor_zone(debtor)
    return f"{date_format(value.astimezone(zone), fmt)} ({name})"


def item_title(account, debtor) -> str:
    """An item's name in the queues: its account's reference (the debtor's when the item has
    no account) and the debtor's name. Reads only rows the queue's query selects with the
    item, so a list of them costs no query per row."""
    reference = account.external_ref if account is not None else debtor.external_ref
    name = debtor.full_name
    return f"{reference} — {name}" if name else reference


def operator_zone_name() -> str:
    return timezone.get_current_timezone_name()


class QueueViewSet(ListAndInspectViewSetMixin, ModelViewSet):
    """An index and an inspect page that also takes the item's actions (POST); the model's
    permissions decide who may look and who may act (`QueuePermissionPolicy`, registered for
    the model in `wagtail_hooks`)."""

    add_to_reference_index = False
    list_per_page = 50

    def get_permissions_to_register(self):
        codenames = [get_permission_codename(a, self.model_opts) for a in ("view", "change")]
        return super().get_permissions_to_register().filter(codename__in=codenames)


class QueueIndexView(generic.IndexView):
    """A queue's list: a checkbox per row for the bulk actions when the user may act."""

    template_name = "queues/index.html"
    bulk_type = "QUEUE"
    title_label = _("Account and debtor")

    def item_title(self, item) -> str:
        """The title column's text (`item_title` of the item's account and debtor)."""
        return str(item)

    @cached_property
    def may_act(self) -> bool:
        return may_act(self.request.user, self.model)

    @cached_property
    def columns(self):
        columns = super().columns
        if self.may_act:
            columns = [BulkActionsCheckboxColumn("bulk_actions", obj_type="queue"), *columns]
        return columns

    def _get_title_column(self, field_name, column_class=TitleColumn, **kwargs):
        # The item's name rather than the model's `__str__` (ids only), linked to its page.
        return self._get_title_column_class(column_class)(
            "title",
            label=self.title_label,
            accessor=self.item_title,
            get_url=self.get_inspect_url,
            get_title_id=lambda item: f"queue_{quote(item.pk)}_title",
        )

    def get_list_buttons(self, instance):
        buttons = super().get_list_buttons(instance)
        for button in buttons:  # the row's "more" menu is named after the item, not its ids
            if isinstance(button, ButtonWithDropdown):
                button.attrs["aria-label"] = _("More options for '%(title)s'") % {
                    "title": self.item_title(instance)
                }
        return buttons

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(may_act=self.may_act, bulk_item_type=self.bulk_type)
        return context


class QueueBulkAction(BulkAction):
    """A bulk action on one queue's items: only the items of the user's creditors are found,
    and only users who may act on the model may run it. Subclasses set `models`, `queue`
    (the queue's query of what a user may see: their creditors' items, with the rows the
    items' names need), `title` (an item's name on the confirmation page), `action_type`,
    `display_name` and `execute_action`."""

    template_name = "queues/bulk_confirm.html"
    aria_label = ""
    confirm_text = ""
    queue: Callable[..., QuerySet]
    title: Callable[..., str] = str
    act_model = None  # whose change permission acting needs; default: the listed model

    def get_queryset(self, model, object_ids):
        return list(type(self).queue(self.request.user).filter(pk__in=object_ids))

    def get_all_objects_in_listing_query(self, parent_id):
        return type(self).queue(self.request.user).values_list("pk", flat=True)

    def object_context(self, obj):
        return {"item": obj, "title": type(self).title(obj)}

    def check_perm(self, obj) -> bool:
        return may_act(self.request.user, self.act_model or self.model)

    def get_execution_context(self):
        return {"request": self.request, "form": self.cleaned_form}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        title = type(self).title
        context.update(
            action=self,
            header_icon="tasks",
            items_with_no_access=[title(i) for i in context.get("items_with_no_access", [])],
        )
        return context

    def get_success_message(self, num_parent_objects, num_child_objects):
        return f"{self.display_name}: {num_parent_objects} done."


# --- Pausing the accounts behind a queue's items ------------------------------------------------


class PauseForm(forms.Form):
    """How long and why, for every selected item's account. `limit`: the longest pause the
    selected items' creditors allow (the smallest of their `max_pause_days`)."""

    days = forms.IntegerField(label=_("Pause collection for (days)"), min_value=1)
    reason = forms.ChoiceField(
        label=_("Why"),
        widget=forms.RadioSelect,
        choices=[
            (PauseReason.JOB_LOSS, _("The debtor lost their job or income")),
            (PauseReason.ILLNESS, _("Illness")),
            (PauseReason.OTHER, _("Something else")),
        ],
    )

    def __init__(self, *args, limit: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit = limit
        self.fields["days"].widget.attrs["max"] = limit
        self.fields["days"].help_text = _("1 to %(days)s days.") % {"days": limit}

    def clean_days(self) -> int:
        days = self.cleaned_data["days"]
        if days > self.limit:
            raise forms.ValidationError(
                _("At most %(days)s days: the longest pause the creditor allows.")
                % {"days": self.limit}
            )
        return days


class PauseAccountsBulk(QueueBulkAction):
    """Pause collection on the accounts behind the selected items, for a number of days with
    a reason, through `portal.services.pause_request` (the debtor's own breathing space: the
    same rules, the `pause` timeline entry and the `pause.started` webhook event in the
    account's transaction), recorded as the staff user's. Needs the queue's act permission
    and `accounts.change_account` (a status change). Accounts that cannot be paused now
    (disputed, already paused, closed, ...) and items without an account are skipped and
    counted. Subclasses set `account_of` (an item's account or None) and `creditor_of` (its
    creditor's id)."""

    form_class = PauseForm
    display_name = _("Pause")
    action_type = "pause_accounts"
    aria_label = _("Pause collection on the accounts of the selected items")
    confirm_text = _("Pause collection on the accounts behind these items?")
    action_priority = 90
    account_of: Callable[..., Account | None]
    creditor_of: Callable[..., int]

    def check_perm(self, obj) -> bool:
        return super().check_perm(obj) and self.request.user.has_perm("accounts.change_account")

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        items, _no_access = self.get_actionable_objects()
        creditors = {type(self).creditor_of(item) for item in items}
        limit = Creditor.objects.filter(pk__in=creditors).aggregate(n=Min("max_pause_days"))["n"]
        kwargs["limit"] = limit or 1
        return kwargs

    @classmethod
    def execute_action(cls, objects, request=None, form=None, **kwargs):
        data, who = form.cleaned_data, actor(request)
        accounts = {}  # each account once, however many selected items lead to it
        skipped = 0
        for item in objects:
            account = cls.account_of(item)
            if account is None:
                skipped += 1
            else:
                accounts.setdefault(account.pk, account)
        paused = 0
        for account in accounts.values():
            try:
                pause_request(account=account, reason=data["reason"], days=data["days"], actor=who)
            except (PortalError, DomainError):  # not pausable now: counted, left as it is
                skipped += 1
                continue
            paused += 1
        return paused, skipped

    def get_success_message(self, num_parent_objects, num_child_objects):
        message = _("Pause: %(n)s account(s) paused.") % {"n": num_parent_objects}
        if num_child_objects:
            message += " " + _(
                "%(n)s not paused: no account, or an account that cannot be paused now "
                "(disputed, already paused, closed)."
            ) % {"n": num_child_objects}
        return message
