"""The floor under a page of the site: FastAPI + Jinja2 and nothing else, rendering a page as
big as the one asked for (``/en/page/{bytes}``) from a base template and a child, as the site
renders its pages.

    python -m benchmarks.bare_page --host H --port P

served by uvicorn with the options web/serve.py gives the site.
"""

from __future__ import annotations

import argparse
from functools import cache
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.templating import Jinja2Templates
from jinja2 import DictLoader, Environment, select_autoescape
from starlette.responses import Response

BASE = """<!DOCTYPE html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><title>{% block title %}{% endblock %} - {{ site }}</title>
<link rel="stylesheet" href="/static/site.css"></head>
<body><header><p>{{ site }}</p><nav><a href="/fr/login">Français</a></nav></header>
<main>{% block content %}{% endblock %}</main>
<footer><p>{{ site }}</p></footer></body></html>
"""
PAGE = """{% extends "base.html" %}
{% block title %}Log in{% endblock %}
{% block content %}<h1>{{ title }}</h1>
<form method="post" action="/en/next"><input type="hidden" name="csrf_token" value="{{ token }}">
<button type="submit">Continue</button></form>
{% for paragraph in paragraphs %}<p>{{ paragraph }}</p>
{% endfor %}{% endblock %}
"""
PARAGRAPH = "Exporters and customs service providers can use this system to report exports."

templates = Jinja2Templates(
    env=Environment(
        loader=DictLoader({"base.html": BASE, "page.html": PAGE}),
        autoescape=select_autoescape(default_for_string=True, default=True),
    )
)


def context(lang: str, paragraphs: list[str]) -> dict[str, Any]:
    return {
        "lang": lang,
        "site": "Bare page",
        "title": "A page of the same size",
        "token": "x" * 43,
        "paragraphs": paragraphs,
    }


@cache
def paragraphs_for(size: int) -> list[str]:
    """As many paragraphs as bring the rendered page nearest to ``size`` bytes."""
    template = templates.env.get_template("page.html")
    paragraphs: list[str] = []
    while len(template.render(context("en", [*paragraphs, PARAGRAPH])).encode()) <= size:
        paragraphs.append(PARAGRAPH)
    return paragraphs


app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/{lang}/page/{size}")
async def page(request: Request, lang: str, size: int) -> Response:
    """The page at about ``size`` bytes (the paragraph count is worked out once per size)."""
    paragraphs = paragraphs_for(min(size, 1_000_000))
    return templates.TemplateResponse(request, "page.html", context(lang, paragraphs))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare_page")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    # web/serve.py's options (no graceful-shutdown wait: it changes nothing under load).
    uvicorn.run(
        "benchmarks.bare_page:app",
        host=args.host,
        port=args.port,
        server_header=False,
        proxy_headers=False,
    )
