"""The life of a run: its status machine, the scheduler that gives runs workers, the registry."""
