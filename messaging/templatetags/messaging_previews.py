"""Template tags of the variant preview page (`messaging/preview.html`).

The previews are built here, where the page is rendered, so that `messaging.models` (whose
`MessageVariant.get_preview_context` Wagtail calls) never imports `messaging.previews`, which
imports the models.
"""

from __future__ import annotations

from typing import Any

from django import template

from messaging import previews
from messaging.models import MessageVariant

register = template.Library()


@register.simple_tag
def variant_previews(variant: MessageVariant) -> list[dict[str, Any]]:
    """`{% variant_previews variant as previews %}`: one preview per region to show."""
    return previews.variant_previews(variant=variant)
