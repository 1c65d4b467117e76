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
    """Move everything the worker loaded (Django, Wagtail, the project: ~200,000 objects)
    out of the garbage collector's reach, so a full collection while serving scans only what
    was allocated since, several times shorter (docs/benchmarks.md, Portal); both threads of
    the worker stop for it. Frozen objects are never freed, which is what
    module-level objects are anyway."""
    import gc

    gc.collect()
    gc.freeze()
