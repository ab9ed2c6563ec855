"""The site's routers, added to the app as its own routes.

FastAPI 0.165's ``include_router`` keeps each router as one entry that is matched twice on
every request: once among the app's routes to choose the router, then again inside it to find
the route (about 0.06 ms a request over the site's ~130 routes, most of the routing's cost).
Each route an ``APIRouter`` holds is whole already: its path carries the router's prefix and
its dependencies the router's. ``include`` adds a copy of each to the app's own router, as
``include_router`` did before FastAPI 0.116, so a request is matched once, in the same order,
and the app's ``dependency_overrides`` reach them as before.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute


def include(app: FastAPI, router: APIRouter) -> None:
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only path operations are added this way")
        app.router.add_api_route(
            route.path,
            route.endpoint,
            methods=sorted(route.methods or ()),
            name=route.name,
            dependencies=route.dependencies,
            status_code=route.status_code,
            response_class=route.response_class,
            response_model=route.response_model,
            include_in_schema=route.include_in_schema,
        )
