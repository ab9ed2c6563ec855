"""Links by route name, without walking every route each time.

``request.url_for`` asks the app's router, which tries each of the site's ~130 routes in turn
until one has the name: about 0.1 ms a link, and a page renders five to ten links (the stylesheet,
the script, the language toggle, the form actions, the redirect after a POST). The index files the
routes by name once, so a link tries only the routes of that name, in the router's order; a name
it does not hold goes to the router as before, so nothing resolves differently. A link that
names only a language (or a static file) is the same path every time, and is kept once found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from jinja2 import pass_context
from starlette.routing import NoMatchFound, Router

UrlPathFor = Callable[..., Any]
BASE_KEY = "cers.site_base"  # the scope key site_base keeps its answer under
# Links whose path parameters are only these are the same for every request, and few (a route
# in each language, a static file): their paths are worked out once. A link carrying anything
# else (a journey id, a token) is looked up each time and never kept.
REMEMBERED = frozenset({"lang", "path"})
REMEMBER_AT_MOST = 1_000
# The site's own addresses (a name, an IP, localhost): its base URL for each of them.
BASES_AT_MOST = 64
_bases: dict[tuple[Any, ...], str] = {}


class RouteIndex:
    def __init__(self, router: Router) -> None:
        self._router = router
        self._scan: UrlPathFor = router.url_path_for
        self._by_name: dict[str, list[UrlPathFor]] | None = None
        self._remembered: dict[tuple[Any, ...], Any] = {}

    def _index(self) -> dict[str, list[UrlPathFor]]:
        by_name: dict[str, list[UrlPathFor]] = {}
        # The site's routers are the app's own routes (web/routes.py), each with its name.
        for route in self._router.routes:
            name = getattr(route, "name", None)
            if not isinstance(name, str):
                # An unnamed mount or an included router answers its children's names,
                # whatever they are: only the router's own scan keeps the order right then.
                return {}
            by_name.setdefault(name, []).append(route.url_path_for)
        return by_name

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        if path_params.keys() <= REMEMBERED:
            key = (name, *sorted(path_params.items()))
            path = self._remembered.get(key)
            if path is None:
                path = self._find(name, **path_params)
                if len(self._remembered) < REMEMBER_AT_MOST:  # whatever a request may name
                    self._remembered[key] = path
            return path
        return self._find(name, **path_params)

    def _find(self, name: str, /, **path_params: Any) -> Any:
        if self._by_name is None:
            self._by_name = self._index()
        # A mount's child is named "mount:child"; the mount itself is filed as "mount".
        for candidate in self._by_name.get(name.partition(":")[0], ()):
            try:
                return candidate(name, **path_params)
            except NoMatchFound:
                pass
        return self._scan(name, **path_params)


def index_routes(app: FastAPI) -> None:
    """Every ``url_for`` of the app (requests, templates, redirects) goes through the index.

    Starlette's ``request.url_for`` asks ``scope["router"]``, the app's router: the index takes
    that router's ``url_path_for``. The index is built at the first link, once every route of
    the app has been added."""
    index = RouteIndex(app.router)
    # The router has no hook for this; its method is replaced on this one instance only.
    app.router.url_path_for = index.url_path_for  # type: ignore[method-assign]


def site_base(request: Request) -> str:
    """``scheme://host/root`` of this request, worked out once per request (``url_for``
    rebuilds it, and parses it again, for every link), and once per site address: what it is
    made of is the same on every request to that address."""
    scope = request.scope
    base: str | None = scope.get(BASE_KEY)
    if base is None:
        made_of = (
            scope.get("scheme"),
            scope.get("server"),
            scope.get("app_root_path", scope.get("root_path", "")),
            next((value for name, value in scope["headers"] if name == b"host"), None),
        )
        base = _bases.get(made_of)
        if base is None:
            url = request.base_url
            base = f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}"
            if len(_bases) < BASES_AT_MOST:  # TrustedHostMiddleware has refused the others
                _bases[made_of] = base
        scope[BASE_KEY] = base
    return base


def link(request: Request, name: str, /, **path_params: Any) -> str:
    """What ``str(request.url_for(name, ...))`` gives: the absolute URL of a named route."""
    # As Starlette's url_for: the router's, or the app's outside one (an error page).
    provider = request.scope.get("router") or request.scope["app"]
    return site_base(request) + str(provider.url_path_for(name, **path_params))


@pass_context
def template_link(context: Mapping[str, Any], name: str, /, **path_params: Any) -> str:
    """Templates' ``url_for``."""
    return link(context["request"], name, **path_params)
