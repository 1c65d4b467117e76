"""The operations cockpit in the Wagtail admin (`/admin/operations/`, docs/operations.md).

It reads across every app, so it lives in the project package; no app imports it."""
