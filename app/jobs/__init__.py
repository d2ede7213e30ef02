"""Training jobs: the training process, and the two ways it runs.

- ``loop``      the training process (``TrainerProcess``): commands in, ``app.contract.worker``
                messages out; imports only the engine, the standard library and pydantic
- ``local``     embedded mode: the ``JobRunner`` seam and ``ProcessRunner`` (a spawned process
                per run training, messages pickled over a pipe)

Redis mode: training jobs through Dramatiq to ``microgpt-live worker`` processes on any
machine, and each run's worker messages back through a Redis Stream.

- ``wire``      a worker message <-> a stream entry (JSON, arrays as raw doubles)
- ``sessions``  the Redis keys of a training session and the Lua scripts that hand it over
- ``slices``    the Dramatiq actor: a slice of a run's steps, then the next slice is queued
- ``runner``    the web process's ``JobRunner`` for a session
- ``worker_main``  ``microgpt-live worker --redis-url URL --processes N``

Embedded mode (no Redis URL) imports none of the Redis modules.
"""
