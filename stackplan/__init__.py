"""A plan of what applying one source tree would do to a stack deployed from another.

`evaluate` runs the real Pulumi program of a tree under mocks (in a subprocess) and returns its
resources; `diff.plan` turns old and new resources into steps; `render` prints a plan as text,
Markdown or JSON. `scripts/plan.py` is the command line around them. See docs/architecture.md.
"""
