"""table_analyze: PostgreSQL statistics sampled now, or when the table has outgrown them."""

import psycopg
import pytest
from django.db import connection

from accounts.models import Creditor
from accounts.statistics import table_analyze

pytestmark = pytest.mark.django_db


def _pages() -> tuple[int, int]:
    """(pages at the last analyze, pages now) of the creditor table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relpages, pg_relation_size(oid) / current_setting('block_size')::int "
            "FROM pg_class WHERE relname = 'accounts_creditor'"
        )
        return cursor.fetchone()


def _grow_to(pages: int, step: int = 200) -> None:
    """At least `step` more creditors, and as many more as make the table `pages` long (with
    steps of less than a page, exactly that long)."""
    n = Creditor.objects.count()
    while True:
        Creditor.objects.bulk_create(
            Creditor(name=f"C{i}", slug=f"c-{i}", display_name=f"C{i}") for i in range(n, n + step)
        )
        n += step
        if _pages()[1] >= pages:
            return


def test_other_databases_are_left_alone():
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL is what it analyzes")
    assert table_analyze(Creditor) is False
    assert table_analyze(Creditor, when_stale=True) is False


@pytest.mark.postgres
def test_a_stale_check_analyzes_only_a_table_that_has_doubled_since_its_last_analyze():
    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    _grow_to(2)
    assert table_analyze(Creditor) is True  # unconditional
    analyzed, now = _pages()
    assert analyzed == now >= 2
    assert table_analyze(Creditor, when_stale=True, min_pages=1) is False
    _grow_to(2 * analyzed - 1, step=10)
    assert _pages()[1] == 2 * analyzed - 1
    assert table_analyze(Creditor, when_stale=True, min_pages=1) is False  # not yet double
    _grow_to(2 * analyzed, step=10)
    assert table_analyze(Creditor, when_stale=True, min_pages=1) is True
    assert _pages()[0] == _pages()[1] >= 2 * analyzed
    assert table_analyze(Creditor, when_stale=True, min_pages=1) is False  # fresh again
    # A small table is not worth it, however much it grew.
    assert table_analyze(Creditor, when_stale=True, min_pages=10**6) is False


@pytest.mark.postgres
def test_columns_and_target_shape_the_sample():
    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    _grow_to(4)
    assert table_analyze(Creditor, ["slug"], target=5) is True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, cardinality(histogram_bounds::text::text[]) FROM pg_stats "
            "WHERE tablename = 'accounts_creditor' AND attname = 'slug'"
        )
        stats = dict(cursor.fetchall())
        cursor.execute("SHOW default_statistics_target")
        assert cursor.fetchone()[0] == "100"  # the target was this analyze's alone
    assert 2 <= stats["slug"] <= 6  # target 5: at most 6 histogram bounds


@pytest.mark.postgres
def test_an_analyze_under_way_in_another_session_is_not_repeated():
    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
    ) as other:
        # What table_analyze holds while its ANALYZE runs: the table's advisory lock.
        other.execute(
            "SELECT pg_advisory_xact_lock(%s, 'accounts_creditor'::regclass::oid::int)", [0x5A7]
        )
        assert table_analyze(Creditor) is False
        other.rollback()
    assert table_analyze(Creditor) is True
