"""The site as ``dev.py run`` and the containers serve it: ``python -m web.serve --host H
--port P``. uvicorn names no server software and believes no X-Forwarded-For of its own
accord (the app trusts it from TRUSTED_PROXIES only), and on SIGTERM it finishes the requests
in flight for up to WEB_GRACEFUL_SHUTDOWN_SECONDS before closing them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from settings import get_settings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m web.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    uvicorn.run(
        "web.app:app",
        host=args.host,
        port=args.port,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=get_settings().web_graceful_shutdown_seconds,
    )


if __name__ == "__main__":
    main()
