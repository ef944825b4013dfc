"""The dashboard's web app (Starlette): read-only pages and JSON over the run store and Optuna's studies.

Why Starlette: a small, well-kept ASGI toolkit (routing, responses, static files) with no template engine or
ORM to carry; uvicorn serves it. Every route is GET; the only file route serves artifacts the store lists for
that run, so no path typed by a user ever reaches the file system.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from trainwise.dashboard import pages, studies
from trainwise.store.db import StoreError
from trainwise.store.liveness import looks_dead
from trainwise.store.query import RunQuery
from trainwise.store.runs import RunStore

STATIC = Path(__file__).parent / "static"
PAGE_SIZE = 200
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; worker-src blob:"
)  # 'unsafe-eval': plotly.js's WebGL traces (parallel coordinates) compile shaders through Function()
MEDIA = {".png": "image/png", ".html": "text/html; charset=utf-8", ".json": "application/json"}


def plotly_js() -> Path:
    """The plotly.min.js that the installed plotly package ships (offline, no CDN)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


class _Headers(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response


def create_app(url: str | None = None) -> Starlette:
    """The dashboard over the store at `url` (default: the shared storage URL)."""
    state: dict[str, Any] = {}

    def store() -> RunStore:
        if state.get("store") is None or state["store"].engine is None:
            state["store"] = RunStore(url, create=False)
        return state["store"]

    def run_or_404(run_id: int) -> dict[str, Any]:
        try:
            run = store().get(run_id)
        except StoreError:
            raise HTTPException(404, f"unknown run id {run_id}") from None
        run["status"] = shown_status(run)
        return run

    async def index(request: Request) -> Response:
        params = _list_params(request)
        query = RunQuery(
            task=params["task"] or None,
            status=params["status"] or None,
            tag=params["tag"] or None,
            sort=params["sort"],
            limit=PAGE_SIZE,
            offset=params["offset"],
        )
        rows, total = store().list_runs(query)
        for row in rows:
            row["status"] = shown_status(row)
        return HTMLResponse(pages.runs_page(rows, total, params, store().tasks()))

    async def api_runs(request: Request) -> Response:
        params = _list_params(request)
        limit = _int(request.query_params.get("limit"), PAGE_SIZE)
        rows, total = store().list_runs(
            RunQuery(
                task=params["task"] or None,
                status=params["status"] or None,
                tag=params["tag"] or None,
                sort=params["sort"],
                limit=limit,
            )
        )
        for row in rows:
            row["status"] = shown_status(row)
        return _json({"total": total, "runs": rows})

    async def run_page(request: Request) -> Response:
        return HTMLResponse(pages.run_page(run_or_404(request.path_params["run_id"])))

    async def api_run(request: Request) -> Response:
        return _json(run_or_404(request.path_params["run_id"]))

    async def api_epochs(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        run = run_or_404(run_id)
        after = _int(request.query_params.get("after"), 0)
        return _json({"id": run_id, "name": run["name"], "status": run["status"], "epochs": run["history"][after:]})

    async def compare(request: Request) -> Response:
        ids = [_int(v, -1) for raw in request.query_params.getlist("ids") for v in raw.split(",") if v.strip()]
        if not ids:
            raise HTTPException(400, "pick runs to overlay: /compare?ids=1,2")
        return HTMLResponse(pages.compare_page([run_or_404(i) for i in ids[:20]]))

    async def file(request: Request) -> Response:
        return _artifact(run_or_404(request.path_params["run_id"]), request.path_params["path"])

    async def studies_page(request: Request) -> Response:
        listed, note = studies.list_studies(store().url)
        return HTMLResponse(pages.studies_page(listed, note))

    async def study_page(request: Request) -> Response:
        name = request.path_params["name"]
        info = studies.summary(store().url, name)
        trials, _ = store().list_runs(RunQuery(study=name, sort="id", descending=False, limit=PAGE_SIZE))
        return HTMLResponse(pages.study_page(name, info, trials))

    async def api_study(request: Request) -> Response:
        return Response(studies.figures_json(store().url, request.path_params["name"]), media_type="application/json")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":  # 4 MB that never changes for an installed plotly: cache it for a day
            return FileResponse(plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})
        if name not in ("dashboard.js", "style.css"):  # a fixed list: nothing else is served
            raise HTTPException(404)
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return FileResponse(STATIC / name, media_type=media)

    routes = [
        Route("/", index),
        Route("/runs/{run_id:int}", run_page),
        Route("/compare", compare),
        Route("/studies", studies_page),
        Route("/studies/{name}", study_page),
        Route("/files/{run_id:int}/{path:path}", file),
        Route("/api/runs", api_runs),
        Route("/api/runs/{run_id:int}", api_run),
        Route("/api/runs/{run_id:int}/epochs", api_epochs),
        Route("/api/studies/{name}", api_study),
        Route("/static/{name}", static),
    ]  # Route's default methods: GET (and HEAD); anything else is 405
    return Starlette(routes=routes, middleware=[Middleware(_Headers)], exception_handlers={HTTPException: _error})


def shown_status(row: dict[str, Any]) -> str:
    """The status to show: a "running" run whose process is gone shows as killed (read-only: nothing written)."""
    return "killed" if looks_dead(row) else str(row["status"])


def _artifact(run: dict[str, Any], path: str) -> Response:
    """A file the store lists as this run's artifact, and only if it resolves inside the run directory."""
    listed = {a["path"] for a in run["artifacts"]}
    if path not in listed:
        raise HTTPException(404, "no such artifact")
    root = Path(run["run_dir"]).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise HTTPException(404, "no such artifact")
    media = MEDIA.get(target.suffix.lower(), "application/octet-stream")
    response = FileResponse(target, media_type=media)
    if target.suffix.lower() == ".html":  # a report runs in a sandbox: its scripts get no access to the dashboard
        response.headers["Content-Security-Policy"] = "sandbox allow-scripts; default-src 'self' 'unsafe-inline' data:"
    if media == "application/octet-stream":
        response.headers["Content-Disposition"] = f'attachment; filename="{target.name}"'
    return response


def _list_params(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "task": q.get("task", ""),
        "status": q.get("status", ""),
        "tag": q.get("tag", ""),
        "sort": q.get("sort") or "started",
        "offset": max(_int(q.get("offset"), 0), 0),
    }


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _json(data: Any) -> Response:
    return Response(json.dumps(data, default=str), media_type="application/json")


async def _error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    text = pages.layout("error", f"<h1>{exc.status_code}</h1><p>{pages.e(exc.detail)}</p>")
    return HTMLResponse(text, status_code=exc.status_code)
