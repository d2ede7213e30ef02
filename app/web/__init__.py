"""The web layer: middleware (security, identity), errors, dependencies, forms, views and routes."""
