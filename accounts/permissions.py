"""API permission: the user is bound to a creditor (kept apart from the views so DRF's settings
can import it without importing the views)."""

from rest_framework.permissions import BasePermission

from accounts import selectors


class IsCreditorUser(BasePermission):
    """Authenticated, and bound to exactly one creditor (`CreditorUser`).

    Sets `request.creditor`, which every API view uses to scope its queries.
    """

    message = "This user is not bound to a creditor."

    def has_permission(self, request, view) -> bool:
        creditor = selectors.creditor_for_user(request.user)
        if creditor is None:
            return False
        request.creditor = creditor
        return True
