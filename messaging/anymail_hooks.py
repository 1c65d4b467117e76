"""django-anymail's webhook URLs, with malformed bodies answered 400 instead of 500.

anymail checks the signature, parses the ESP's body into normalised events, then sends its
`tracking` signal (our receiver records the events). A body that is valid JSON but not the
shape the ESP sends (a list, a string where an object belongs, a signed body without its
event) raises a KeyError or TypeError inside anymail's own parsing: a 500, which tells the
ESP to retry a request that can never succeed. Here the validation and parsing steps of
every anymail view turn such errors into anymail's own `AnymailWebhookValidationFailure`
(Django answers 400). Errors after parsing, in our receiver (a database outage, say), stay
500s on purpose: the ESP retries those and replays are idempotent.
"""

from __future__ import annotations

from anymail import urls as anymail_urls
from anymail.exceptions import AnymailWebhookValidationFailure
from django.urls import URLPattern, re_path

_MALFORMED = (AttributeError, IndexError, KeyError, TypeError, ValueError)


def _tolerant(view_class: type) -> type:
    class TolerantWebhookView(view_class):
        def run_validators(self, request):
            try:
                return super().run_validators(request)
            except _MALFORMED as exc:
                raise AnymailWebhookValidationFailure("Malformed webhook body.") from exc

        def parse_events(self, request):
            try:
                return super().parse_events(request)
            except _MALFORMED as exc:
                raise AnymailWebhookValidationFailure("Malformed webhook body.") from exc

    TolerantWebhookView.__name__ = TolerantWebhookView.__qualname__ = (
        f"Tolerant{view_class.__name__}"
    )
    return TolerantWebhookView


def _wrapped(pattern: URLPattern) -> URLPattern:
    view = pattern.callback
    return re_path(
        pattern.pattern.regex.pattern,
        _tolerant(view.view_class).as_view(**view.view_initkwargs),
        name=pattern.name,
    )


app_name = anymail_urls.app_name
urlpatterns = [_wrapped(p) for p in anymail_urls.urlpatterns]
