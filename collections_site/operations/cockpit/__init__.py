"""The cockpit's pages beside Health: Recovery, Engagement, Recommender and Compliance.

Each page reads the rollups (`collections_site.operations.models`) through the shared
filters (`filters.py`), draws its charts with `charts.py` and renders a template that
extends `operations/cockpit.html` (the section tabs and the filter bar). docs/operations.md
says what each figure means.
"""
