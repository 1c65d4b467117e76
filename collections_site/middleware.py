"""Site-wide request guards that run before any view reads the body."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

# Deeper than any body the site accepts (a placement is 5 levels, providers' webhooks about
# 10), far below the ~1,000 at which Python's json parser raises RecursionError (a 500).
JSON_MAX_DEPTH = 64
TOO_DEEP = f"JSON nested too deeply: at most {JSON_MAX_DEPTH} levels of arrays and objects."

_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_JSON_START = re.compile(r"[\ufeff \t\r\n]*[\[{]")
# A string, or an unterminated one up to the end (so no position is scanned twice: linear).
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_too_deep(text: str, limit: int = JSON_MAX_DEPTH) -> bool:
    """Whether `text`, read as JSON, nests arrays and objects more than `limit` levels deep.

    Counts brackets outside strings without parsing (so without recursion), in C except for
    a loop over the brackets themselves. Malformed JSON may be miscounted; the parser
    refuses it anyway.
    """
    depth = 0
    for char in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class JsonDepthLimitMiddleware:
    """Answers 400 `{"detail": ...}` to a request whose body is JSON nested more than
    `JSON_MAX_DEPTH` levels, whatever its declared content type and whichever view it is
    for: the creditor API, the payment and e-mail/SMS providers' webhooks, the admin.

    Form bodies are left alone. Reading the body here keeps Django's
    `DATA_UPLOAD_MAX_MEMORY_SIZE` limit (400 beyond it), and views read it again as usual.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.content_type not in _FORM_TYPES and request.META.get("CONTENT_LENGTH"):
            text = _decoded(request)
            if _JSON_START.match(text) and json_too_deep(text):
                return JsonResponse({"detail": TOO_DEEP}, status=400)
        return self.get_response(request)


def _decoded(request: HttpRequest) -> str:
    """The body as text, decoded as a JSON parser would: with the declared charset (DRF does),
    else by JSON's own rules (UTF-8, or UTF-16/32 recognised by its first bytes)."""
    body = request.body
    return body.decode(request.encoding or json.detect_encoding(body), "replace")
