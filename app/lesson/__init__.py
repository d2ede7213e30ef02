"""The lesson: what the page says about training, computed from the run's own numbers."""
