"""Django's PostgreSQL backend with a health check that costs no round trip when it need not
(`base.DatabaseWrapper.is_usable`)."""
