"""The microstack Pulumi program (`main: infra/` in Pulumi.yaml); the CLI runs `__main__.py`."""
