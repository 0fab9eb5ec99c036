"""The local stack of plain processes: ``python -m scripts.devstack up|down|status``."""
