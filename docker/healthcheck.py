"""Health check of the web container: GET /healthz on the local gunicorn, exit 0 if 200.

Django answers 400 to a Host header outside ALLOWED_HOSTS, so the request names the
first allowed host (a leading-dot wildcard loses its dot; ``*`` becomes localhost).
Uses only the standard library: the slim image has no curl.
"""

from __future__ import annotations

import http.client
import os
import sys


def health_host() -> str:
    for entry in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = entry.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def main() -> int:
    port = int(os.environ.get("HEALTHCHECK_PORT", "8000"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz", headers={"Host": health_host()})
        response = connection.getresponse()
        response.read()
    except OSError as error:
        print(f"healthz: {error}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if response.status != 200:
        print(f"healthz: HTTP {response.status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
