"""How the OpenAPI schema describes API-key authentication (a drf-spectacular extension,
registered by importing this module: accounts.api_keys.apps)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api_keys.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` or `Bearer <key>`; a key looks like "
            "`ck_1a2b3c4d_` followed by 40 hex digits (docs/api.md, Authentication).",
        }
