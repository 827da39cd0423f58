"""gunicorn settings for kenshin (deploy/kenshin.service passes this file with -c).

Only what the command line cannot say: the hook below. Workers, timeout, bind and the access
log stay on kenshin.service's command line."""
import gc


def post_worker_init(worker):
    """Once the worker has built the app: collect, then freeze what exists (gc.freeze).

    The app's modules, routes, templates and models are about 96,000 objects that live as long
    as the worker. Frozen, the cyclic GC's full collections no longer walk them: in
    bench/search.py (600 searches, SQLite, 1M residents) the one full collection of a run paused
    a search for 38 ms; frozen, the longest collection was 0.2–1.3 ms. The young collections,
    about 3 a request at 0.013 ms each, are unchanged (a larger threshold made fewer but longer
    ones: 8–12 ms pauses, more in all)."""
    gc.collect()
    gc.freeze()
