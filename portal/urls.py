"""Portal routes, mounted at /p/ by `collections_site.urls`. The token route comes last, so
named pages are never read as tokens."""

from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("verify/", views.verify, name="verify"),
    path("link/", views.link_invalid, name="link_invalid"),
    path("code/", views.letter_code, name="letter_code"),
    path("signout/", views.logout, name="logout"),
    path("session/", views.stay, name="stay"),
    path("language/", views.language, name="language"),
    path("history/", views.history, name="history"),
    path("receipts/<int:payment_id>/", views.receipt, name="receipt"),
    path("preferences/", views.preferences, name="preferences"),
    path("callback/", views.callback, name="callback"),
    path("a/<int:account_id>/pay/", views.pay, name="pay"),
    path("a/<int:account_id>/plan/", views.plan, name="plan"),
    path("a/<int:account_id>/settle/", views.settle, name="settle"),
    path("a/<int:account_id>/pause/", views.pause, name="pause"),
    path("a/<int:account_id>/dispute/", views.dispute, name="dispute"),
    path("pay/<uuid:checkout_id>/", views.checkout, name="checkout"),
    path("pay/<uuid:checkout_id>/authenticate/", views.authenticate, name="authenticate"),
    path("pay/<uuid:checkout_id>/return/", views.checkout_return, name="checkout_return"),
    path("webhooks/stripe/", views.stripe_webhook, name="stripe_webhook"),
    path("<str:token>/", views.link_exchange, name="link"),
]
