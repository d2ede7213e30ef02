"""Redis mode: training jobs through Dramatiq to ``microgpt-live worker`` processes on any
machine, and each run's worker messages back through a Redis Stream.

- ``wire``      a worker message <-> a stream entry (JSON, weights as raw doubles)
- ``sessions``  the Redis keys of a training session and the Lua scripts that hand it over
- ``slices``    the Dramatiq actor: a slice of a run's steps, then the next slice is queued
- ``runner``    the web process's ``JobRunner`` for a session (the seam in ``app.jobs.local``)
- ``worker_main``  ``microgpt-live worker --redis-url URL --processes N``

Embedded mode (no Redis URL) imports none of this.
"""
