"""How the site and the worker log: one JSON object per line in production (a log shipper
reads fields, not prose), plain text in development; every line written during a request, or
during the workflow call and activities that request made, names its request id.

What a line says is the caller's business and already free of secrets and personal details
(web/logs.py redacts the access log's request targets); this only shapes the line.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter
from temporalio import activity, workflow

from observe.requests import REQUEST_ID
from settings import Settings

TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id")
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}
# uvicorn's records carry a coloured copy of their message; a JSON line needs only one.
NOT_FIELDS = (*RESERVED_ATTRS, "color_message")
# uvicorn configures these with handlers of their own; they are sent to the root's instead.
UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


class WithRequestId(logging.Filter):
    """Puts the current request id on the record ("-" outside any request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class ServiceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler this module installs, known by its type so a second call replaces it."""


def formatter(json_lines: bool) -> logging.Formatter:
    if json_lines:
        return JsonFormatter(
            list(JSON_FIELDS),
            rename_fields=RENAMED,
            reserved_attrs=list(NOT_FIELDS),
            timestamp=False,
        )
    return logging.Formatter(TEXT)


def temporal_fields(json_lines: bool) -> None:
    """The SDK's workflow and activity loggers put the workflow's or activity's ids in the
    message text, and as a field (temporal_workflow, temporal_activity): a JSON line needs only
    the field."""
    activity.logger.activity_info_on_message = not json_lines
    workflow.logger.workflow_info_on_message = not json_lines


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    """The process's logging, from its settings: called once by each entry point (the worker's
    main, the site's app from the environment), not by create_app, which tests build."""
    handler = ServiceHandler(sys.stderr)
    handler.addFilter(WithRequestId())
    handler.setFormatter(formatter(settings.json_logs))
    temporal_fields(settings.json_logs)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, ServiceHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in UVICORN:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
