"""How the stand-in is served: werkzeug, without naming itself, and logging no query string."""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler


class RequestHandler(WSGIRequestHandler):
    """werkzeug's handler without its ``Server: Werkzeug/… Python/…`` header, and whose request
    log leaves out query strings (the authorization request's state and nonce)."""

    def send_response(self, code: int, message: str | None = None) -> None:
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", None)
        if path is None or "?" not in path:
            super().log_request(code, size)
            return
        self.path = path.partition("?")[0] + "?[redacted]"
        try:
            super().log_request(code, size)
        finally:
            self.path = path
