"""Container healthcheck: exit 0 only when ``GET /health`` on ``$PORT`` answers 200.

Standard library only, so the check works even if the app's imports are broken.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 3


def main() -> int:
    port = os.environ.get("PORT", "8000")
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError, ValueError) as error:
        print(f"healthcheck failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
