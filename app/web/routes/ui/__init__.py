"""The pages and their HTML fragments, one module per part of the page."""
