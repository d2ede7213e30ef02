"""microgpt-live: the web service that trains microgpt in a worker process and streams each step.

Kept import-light on purpose: the spawned training process imports this package too.
"""
