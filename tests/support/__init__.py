"""Helpers shared by the test suites (servers, TLS clients, stack outputs)."""
