"""The contract: pydantic models for the event stream (events), the training process's messages
(worker), the JSON API (api), the classroom (classes) and their bounded fields (fields), used
unchanged by the training process, the routes, the renderers and the tests."""
