"""Every kind of response carries a Content-Security-Policy fit for it, and the other security
headers: the home page, the creditor API and its schema, the API docs, the tracking and webhook
endpoints, static files, error pages, both admins (the sign-in pages stricter than the rest of
Wagtail's admin) and the portal, which keeps its own, stricter policy."""

import pytest
from django.contrib.auth import get_user_model

from portal.access import csp_header

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, set[str]]:
    header = response.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = set(values)
    return directives


def assert_other_headers(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in {"same-origin", "no-referrer"}


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "x" * 20)
    client.force_login(user)
    return client


def test_the_home_page_allows_only_its_own_nonced_style(client):
    response = client.get("/")

    csp = policy(response)
    assert csp["default-src"] == {"'self'"} and csp["script-src"] == {"'self'"}
    nonce = next(v for v in csp["style-src"] if v.startswith("'nonce-"))
    assert f'nonce="{nonce[7:-1]}"' in response.content.decode()
    assert csp["frame-ancestors"] == {"'none'"} and csp["object-src"] == {"'none'"}
    assert_other_headers(response)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/accounts/"),  # refused without a token: still a policy
        ("get", "/api/schema/"),
        ("get", "/m/o/not-a-token.gif"),
        ("get", "/m/c/not-a-token"),
        ("post", "/m/hooks/twilio/status/"),
        ("post", "/m/hooks/twilio/inbound/"),
        ("get", "/no-such-page/"),
    ],
)
def test_the_api_tracking_webhooks_and_errors_get_the_strict_policy(client, method, path):
    response = getattr(client, method)(path)

    csp = policy(response)
    assert csp["script-src"] == {"'self'"} and "'unsafe-inline'" not in csp["style-src"]
    assert csp["frame-ancestors"] == {"'none'"} and csp["base-uri"] == {"'none'"}
    assert_other_headers(response)


def test_the_api_for_a_creditor_gets_the_strict_policy(api):
    response = api.get("/api/v1/accounts/")

    assert response.status_code == 200
    assert policy(response)["frame-ancestors"] == {"'none'"}


def test_the_api_docs_run_no_inline_script(client):
    page = client.get("/api/docs/")

    csp = policy(page)
    assert csp["script-src"] == {"'self'"} and csp["connect-src"] == {"'self'"}
    assert "<script>" not in page.content.decode().replace(" ", "")  # the start-up is a file
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_static_files_get_a_policy_too(client):
    response = client.get("/static/wagtailadmin/css/core.css")

    assert response.status_code == 200
    assert policy(response)["frame-ancestors"] == {"'none'"}
    assert_other_headers(response)


@pytest.mark.parametrize("path", ["/admin/login/", "/django-admin/login/"])
def test_the_sign_in_pages_run_no_inline_script(client, path):
    csp = policy(client.get(path))

    assert csp["script-src"] == {"'self'"}
    assert csp["frame-ancestors"] == {"'self'"}


def test_the_second_factor_pages_run_no_inline_script(staff):
    csp = policy(staff.get("/admin/2fa/setup/"))

    assert csp["script-src"] == {"'self'"}


def test_the_wagtail_admin_loads_nothing_from_elsewhere(staff):
    response = staff.get("/admin/")

    csp = policy(response)
    # Wagtail 8 still starts some widgets with inline scripts (wagtail/wagtail#12940) ...
    assert csp["script-src"] == {"'self'", "'unsafe-inline'"}
    # ... but nothing is loaded from, sent to or framed by another site.
    for directive in ("default-src", "connect-src", "form-action", "frame-src"):
        assert csp[directive] == {"'self'"}, directive
    assert csp["img-src"] == {"'self'", "data:", "blob:"}
    assert csp["frame-ancestors"] == {"'self'"} and csp["object-src"] == {"'none'"}
    assert b"gravatar.com" not in response.content
    assert_other_headers(response)


def test_the_django_admin_runs_no_inline_script(staff):
    response = staff.get("/django-admin/auth/user/add/")

    csp = policy(response)
    assert csp["script-src"] == {"'self'"}
    assert csp["frame-ancestors"] == {"'self'"}
    assert_other_headers(response)


def test_the_portal_keeps_its_own_stricter_policy(client):
    response = client.get("/p/")

    assert response["Content-Security-Policy"] == csp_header()
    assert_other_headers(response)
