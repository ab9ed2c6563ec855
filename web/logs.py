"""What the access log may print: no confirmation or resume token, no query string value.

A confirmation or resume link is a bearer token in its path; the Sign-In Partner's callback
carries the OpenID Connect ``code`` and ``state``; staff search for a username, an e-mail address
or a URN in ``q``. The access log keeps the path's shape and the query's keys, and nothing else.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
REDACTED = "[redacted]"
# The routes whose path carries a token (web/cers.py): /{lang}/confirm/{token}[/new-link] and
# /{lang}/resume/{token}. tests/test_logs.py holds every route with a {token} to this list.
# The probes web/observe.py answers.
PROBES = ("/healthz", "/readyz", "/metrics")
TOKEN_PATH = re.compile(r"(/(?:confirm|resume)/)[^/?#]+")


def redact(target: str) -> str:
    """A request target (path and query string) fit for a log line."""
    path, question, query = target.partition("?")
    path = TOKEN_PATH.sub(rf"\1{REDACTED}", path)
    if not question:
        return path
    keys = (pair.partition("=")[0] for pair in query.split("&") if pair)
    return path + "?" + "&".join(f"{key}={REDACTED}" for key in keys)


class RedactTargets(logging.Filter):
    """Rewrites the request target of uvicorn's access records ('%s - "%s %s HTTP/%s" %d':
    client, method, target, version, status); its formatter reads the same five arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact(args[2]), args[3], args[4])
        return True


class QuietProbes(logging.Filter):
    """Drops the access lines of probes that succeeded: a health check every few seconds
    would drown the lines people read. A failed probe is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[4], int):
            return not (args[2] in PROBES and args[4] < 400)
        return True


def redact_access_log() -> None:
    """Installs the filter on uvicorn's access logger, once per process. uvicorn's own logging
    configuration (dictConfig) keeps a logger's filters, whichever comes first."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactTargets) for f in logger.filters):
        logger.addFilter(QuietProbes())
        logger.addFilter(RedactTargets())
