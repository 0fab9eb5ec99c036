"""The framework ceiling: a trivial Flask JSON view, served like a service.

The benchmark runs it under gunicorn with servicekit's gunicorn config (same workers, threads and
keep-alive as the services) behind the same gateway, at ``/api/v1/framework/item``. It answers the
document in ``CEILING_BODY_FILE`` (the cached product's own JSON), so the only difference from a
cached product read is the service's own work. Nothing else is imported: the ceiling must not carry
the services' costs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, Response, jsonify

ITEM_PATH = "/api/v1/framework/item"


def create_app() -> Flask:
    app = Flask(__name__)
    document = json.loads(Path(os.environ["CEILING_BODY_FILE"]).read_text())

    @app.get(ITEM_PATH)
    def item() -> Response:
        return jsonify(document)

    # The gateway's aggregated health probes /health on every upstream.
    @app.get("/health")
    def health() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/health/live")
    def live() -> Response:
        return jsonify({"status": "ok"})

    return app
