"""What a page of the site costs to serve, next to a bare FastAPI + Jinja2 page of the same size
on the same uvicorn settings, loaded side by side in the same run.

    python -m benchmarks.pages [--seconds 10] [--connections 32] [--rounds 3] [--python-client]

Starts a local stack (the dev server, a worker, SMTP), the site under uvicorn as ``dev.py run``
serves it, and benchmarks/bare_page.py under the same command; walks one sign-up to the
username step for the step page. Loads each page with wrk when it is installed (a Python client
otherwise, which shares the CPU with what it measures: its figures are lower). Prints per page
the requests per second, latency percentiles and the web process's CPU per request, the bare
page's the same, and the ratio. The login page and the step page are read with a browser's
session cookie, as a person reloading them would. Each load follows an unmeasured warming
second of the same; ``--rounds`` loads each page and its bare page that many times, in turn,
and prints the median of the rounds' ratios too.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx2

import dev
from devstack.processes import cpu_seconds, project_env, started
from devstack.servers import HOST, free_port
from devstack.stack import local_stack
from settings import Settings

log = logging.getLogger("benchmarks.pages")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
WARM_SECONDS = 1.0


@dataclass
class Load:
    """One page under load."""

    page: str
    bytes: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    errors: int


def wrk_figures(output: str) -> tuple[float, float, float, int]:
    """Requests per second, p50 and p99 in ms, and non-2xx/socket errors from wrk --latency."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    percentiles = {
        p: float(v) * UNITS[u] for p, v, u in re.findall(r"\s(\d+)%\s+([\d.]+)(us|ms|s)\b", output)
    }
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return rate, percentiles.get("50", 0.0), percentiles.get("99", 0.0), errors


async def with_wrk(url: str, cookie: str, seconds: float, connections: int) -> str:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    process = await asyncio.create_subprocess_exec(
        *command, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    return out.decode()


async def with_python(
    url: str, cookie: str, seconds: float, connections: int
) -> tuple[float, float, float, int]:
    """The same load from httpx2: ``connections`` loops on keep-alive connections."""
    latencies: list[float] = []
    errors = 0
    headers = {"Cookie": cookie} if cookie else {}
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx2.AsyncClient(limits=limits, headers=headers) as http:
        deadline = time.perf_counter() + seconds

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await http.get(url)
                latencies.append((time.perf_counter() - start) * 1000)
                errors += response.status_code >= 400

        started_at = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(connections)))
        elapsed = time.perf_counter() - started_at
    ordered = sorted(latencies) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return len(latencies) / elapsed, statistics.median(ordered), p99, errors


async def load(
    page: str, url: str, cookie: str, pid: int, seconds: float, connections: int, python: bool
) -> Load:
    async with httpx2.AsyncClient() as http:
        size = len((await http.get(url, headers={"Cookie": cookie} if cookie else {})).content)
    # A first, unmeasured second of the same load: a process's first thousand requests pay
    # its warming (the interpreter specialising, the allocator growing), which a page served
    # all day does not.
    warm = min(WARM_SECONDS, seconds)
    await (with_python if python else with_wrk)(url, cookie, warm, connections)
    cpu = cpu_seconds(pid)
    if python:
        rate, p50, p99, errors = await with_python(url, cookie, seconds, connections)
        requests = rate * seconds
    else:
        output = await with_wrk(url, cookie, seconds, connections)
        rate, p50, p99, errors = wrk_figures(output)
        requests = float(m.group(1)) if (m := re.search(r"(\d+) requests in", output)) else 1
    used = cpu_seconds(pid) - cpu
    return Load(page, size, rate, p50, p99, 1000 * used / max(requests, 1), errors)


def bare_command(port: int) -> list[str]:
    """The bare page under uvicorn with the site's options (web/serve.py's)."""
    return [sys.executable, "-m", "benchmarks.bare_page", "--host", HOST, "--port", str(port)]


def served(
    command: list[str], env: dict[str, str], log: Path
) -> AbstractAsyncContextManager[asyncio.subprocess.Process]:
    return started(command, env, log, b"startup complete")


async def browser_at_username(site: str, settings: Settings) -> tuple[str, str]:
    """A session cookie whose sign-up stands at the username step, and a login page's."""
    from selectolax.lexbor import LexborHTMLParser

    def token(response: httpx2.Response) -> dict[str, str]:
        node = LexborHTMLParser(response.text).css_first("input[name=csrf_token]")
        return {"csrf_token": str(node.attributes.get("value")) if node else ""}

    async with httpx2.AsyncClient(base_url=site, follow_redirects=True) as http:
        login = await http.get("/en/login")
        login_cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    async with httpx2.AsyncClient(base_url=site, follow_redirects=True) as http:
        form = token(await http.get("/en/gckey/sign-in"))
        await http.post("/en/gckey/sign-up", data=form)
        data = {**form, "decision": "accept", "terms_version": settings.terms_version}
        at = await http.post("/en/gckey/terms", data=data)
        if not at.url.path.endswith("/username"):
            raise RuntimeError(f"the sign-up stands at {at.url.path}, not the username step")
        step_cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    assert login.status_code == 200
    return login_cookie, step_cookie


def ratios(site: Load, bare: Load) -> tuple[float, float]:
    """How many times the bare page's req/s is the site's, and the site's CPU per request
    the bare page's."""
    slower = bare.requests_per_second / max(site.requests_per_second, 1e-9)
    costlier = site.cpu_ms_per_request / max(bare.cpu_ms_per_request, 1e-9)
    return slower, costlier


def report(rows: list[tuple[Load, Load]], client: str, connections: int) -> str:
    head = (
        f"{'page':<30} {'bytes':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'web CPU ms/req':>14} {'errors':>6}"
    )
    lines = [f"{client}, {connections} connections; the bare page under each page", head]
    by_page: dict[str, list[tuple[float, float]]] = {}
    for site, bare in rows:
        for row in (site, bare):
            lines.append(
                f"{row.page:<30} {row.bytes:>6} {row.requests_per_second:>8.0f} "
                f"{row.p50_ms:>7.1f} {row.p99_ms:>7.1f} {row.cpu_ms_per_request:>14.2f} "
                f"{row.errors:>6}"
            )
        slower, costlier = ratios(site, bare)
        by_page.setdefault(site.page, []).append((slower, costlier))
        lines.append(f"{'  bare / site':<30} {'':>6} {slower:>7.2f}x {'':>15} {costlier:>13.2f}x")
    if any(len(pairs) > 1 for pairs in by_page.values()):
        # Each round loads the site and then the bare page, seconds apart; the median of the
        # rounds' ratios is steadier than one round on a machine whose speed drifts.
        lines.append("median of the rounds' ratios (req/s, web CPU per request):")
        for page, pairs in by_page.items():
            slower = statistics.median(p[0] for p in pairs)
            costlier = statistics.median(p[1] for p in pairs)
            lines.append(
                f"{page:<30} {len(pairs):>2} rounds {slower:>6.2f}x {'':>15} {costlier:>13.2f}x"
            )
    return "\n".join(lines)


async def run(
    seconds: float, connections: int, python: bool, rounds: int = 1
) -> list[tuple[Load, Load]]:
    """Each page of the site under load, and the bare page of its size under the same, in
    ``rounds`` rounds of the two side by side."""
    async with local_stack() as stack, AsyncExitStack() as processes:
        logs = Path(processes.enter_context(tempfile.TemporaryDirectory()))
        site_port, bare_port = free_port(), free_port()
        site, bare = f"http://{HOST}:{site_port}", f"http://{HOST}:{bare_port}"
        target = stack.client.service_client.config.target_host
        env = project_env(stack.settings, target, site)
        site_process = await processes.enter_async_context(
            served(dev.web_command(site_port), env, logs / "site.log")
        )
        login_cookie, step_cookie = await browser_at_username(site, stack.settings)
        # The bare page under exactly the site's command.
        bare_process = await processes.enter_async_context(
            served(bare_command(bare_port), env, logs / "bare.log")
        )
        async with httpx2.AsyncClient() as http:  # the bare page, not another copy of the site
            (await http.get(f"{bare}/en/page/100")).raise_for_status()
        rows: list[tuple[Load, Load]] = []
        pages = [
            ("GET /en/login", f"{site}/en/login", login_cookie),
            ("GET /en/gckey/username", f"{site}/en/gckey/username", step_cookie),
        ]
        for name, url, cookie in pages:
            for _ in range(rounds):
                ours = await load(name, url, cookie, site_process.pid, seconds, connections, python)
                floor = await load(
                    "  bare FastAPI + Jinja2",
                    f"{bare}/en/page/{ours.bytes}",  # a page as big as the site's
                    "",
                    bare_process.pid,
                    seconds,
                    connections,
                    python,
                )
                rows.append((ours, floor))
    return rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="site then bare page, each page")
    parser.add_argument("--python-client", action="store_true", help="even when wrk is here")
    args = parser.parse_args()
    python = args.python_client or shutil.which("wrk") is None
    rows = asyncio.run(run(args.seconds, args.connections, python, args.rounds))
    log.info("%s", report(rows, "python client (httpx2)" if python else "wrk", args.connections))
