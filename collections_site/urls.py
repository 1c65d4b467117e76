"""Top-level routes: Wagtail admin, Django admin, the creditor API and its schema, the portal."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("django-admin/", admin.site.urls),
    # The second factor, for users of both admins: in front of Wagtail's admin, which would
    # otherwise claim /admin/2fa/ and refuse users without Wagtail access.
    path("admin/2fa/", include("accounts.staff.urls")),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("api/v1/", include("accounts.urls")),
    path("p/", include("portal.urls")),
    path("m/", include("messaging.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file, so the docs' CSP needs no
    # inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
