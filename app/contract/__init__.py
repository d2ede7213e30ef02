"""The contract: pydantic models for the event stream (events), the JSON API (api) and the
classroom (classes), used unchanged by the routes, the renderers and the tests."""
