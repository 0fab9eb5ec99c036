"""The benchmark behind ``python -m scripts.benchmark``: stack, load, cases, report.

Kept out of scripts/ (which holds only entry points) so that the pieces can be imported and tested.
"""
