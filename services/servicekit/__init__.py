"""servicekit: what the three microstack services share (see README.md).

Kept import-free so that `python -m servicekit.healthcheck` needs only the standard library.
"""
