"""drf-spectacular hooks: the published schema is the creditor API only (not Wagtail's
internal admin API, which is not a public contract)."""


def only_creditor_api(endpoints, **kwargs):
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]
