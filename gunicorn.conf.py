"""gunicorn settings, read by `gunicorn collections_site.wsgi` run from the project folder
(README, production) and by `bench/portal.py`. Workers: `-w N` or `WEB_CONCURRENCY`."""

# Threads overlap one request's database round trips with another's Python and keep
# connections alive; more threads per worker only add GIL contention on a CPU-bound page.
worker_class = "gthread"
threads = 2
# Each worker listens on its own SO_REUSEPORT socket and the kernel spreads new connections
# over them. With one shared socket the first worker to wake can accept a whole burst of
# keep-alive connections and keep them, so one worker can serve every client while the
# other sits idle (docs/benchmarks.md, Portal).
reuse_port = True
# Behind a proxy that keeps upstream connections open.
keepalive = 5
backlog = 2048


def post_worker_init(worker):
    """Move everything the worker loaded (Django, Wagtail, the project) out of the garbage
    collector's reach with `gc.freeze()`, so a full collection while serving scans only what
    was allocated since; both threads of the worker stop for it. What it replaces is
    gunicorn's default, a worker whose collections scan its whole start-up heap: kept because
    the portal bench shows it pays (docs/benchmarks.md, "Standard mechanisms and the
    exceptions kept"). Frozen objects are never freed, which is what module-level objects
    are anyway; objects allocated later are collected as usual
    (`tests/test_gunicorn_conf.py`)."""
    import gc

    gc.collect()
    gc.freeze()
