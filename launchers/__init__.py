"""Throwaway real servers on free loopback ports, and the whole stack built from them.

A library: the local stack (``python -m scripts.devstack``), the benchmark (``python -m
scripts.benchmark``) and the test fixtures (tests/conftest.py, tests/service, tests/gateway) all
start their servers here, so a server is started one way everywhere.

Each launcher is a small dataclass: build it with a private directory, ``start()`` it, read its
connection details, ``stop()`` it. Every server runs in its own process group and writes its own
log; a start that fails raises with the tail of that log.

Modules:
  processes   spawn, stop_group, free_port, find_binary, write_secret (0600), run_checked, ...
  polling     poll_until: the one bounded wait, with a failure message
  postgres    PostgresServer (PostgreSQL 15, scram-sha-256 only)
  redis       RedisServer (requirepass, optional append-only file)
  nginx       NginxServer (its own prefix, config and logs, in the foreground)
  gunicorn    GunicornServer (one service's ``create_app()`` with servicekit's gunicorn config)
  database    the application database bootstrap, as the PostgreSQL container does it
  tls         a self-signed certificate for the gateway
  gateway     the gateway: nginx/gateway.conf.j2 rendered by infra.gateway_config, under nginx
  stack       LocalStack: PostgreSQL, Redis, the three services and the gateway, as processes
  paths       where the repository's files are
"""
