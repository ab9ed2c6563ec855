"""python -m broker: the stand-in Sign-In Partner, served by werkzeug.

Every option can also come from the environment variable named in its help (BROKER_*); the
defaults suit ``python3 dev.py run`` on this machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from werkzeug.serving import run_simple

from broker.app import Config, create_app
from broker.keys import load_or_create_key
from broker.oidc import Client
from broker.serving import RequestHandler

log = logging.getLogger("broker")

DEV_REDIRECT_URIS = (
    "http://127.0.0.1:8000/partner/callback",
    "http://localhost:8000/partner/callback",
)


def options(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m broker", description=__doc__)

    def option(name: str, default: str, what: str) -> None:
        variable = "BROKER_" + name.upper().replace("-", "_")
        parser.add_argument(
            f"--{name}", default=os.environ.get(variable, default), help=f"{what} (${variable})"
        )

    option("host", "127.0.0.1", "address to listen on")
    option("port", "9400", "port to listen on")
    option(
        "issuer", "", "issuer URL as the browser and the service reach it; default http://HOST:PORT"
    )
    option("client-id", "cers", "the relying party's client id")
    option("client-secret", "dev-partner-client-secret", "the relying party's client secret")
    option("pairwise-secret", "dev-pairwise-secret", "key of the pairwise identifiers")
    option("key-file", ".data/broker-key.json", "the signing key (JWK), created if missing")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        help="a registered redirect URI; repeat for more; the first names the pairwise sector "
        "($BROKER_REDIRECT_URIS, space-separated)",
    )
    args = parser.parse_args(argv)
    if not args.redirect_uri:
        args.redirect_uri = os.environ.get("BROKER_REDIRECT_URIS", "").split() or DEV_REDIRECT_URIS
    args.issuer = (args.issuer or f"http://{args.host}:{args.port}").rstrip("/")
    return args


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    args = options(argv)
    client = Client(args.client_id, args.client_secret, tuple(args.redirect_uri))
    key = load_or_create_key(Path(args.key_file))
    app = create_app(Config(args.issuer, client, args.pairwise_secret, key))
    log.info("issuer %s for client %s, sector %s", args.issuer, client.client_id, client.sector)
    # A clean stop on SIGINT (dev.py, Ctrl-C) and SIGTERM (docker stop), even when started
    # from a shell that ignores SIGINT for background jobs: werkzeug returns on KeyboardInterrupt.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    run_simple(args.host, int(args.port), app, threaded=True, request_handler=RequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
