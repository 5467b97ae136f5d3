"""The browser side of the server: the console at ``/`` and the API reference at ``/docs``
(Swagger UI) and ``/redoc``.

Everything a page loads comes from this server, out of installed packages: the console from
``rosto/web``, Swagger UI's and ReDoc's scripts from the pinned ``fastapi-offline`` package
(FastAPI's own pages would load them from a CDN, leaving them blank on an offline machine).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "web"
DOCS_ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
# Each page may load from and talk to this server only (its Content-Security-Policy): the
# console's images also from where a user's url points; ReDoc's inline styles, its search worker,
# and not the logo it would fetch from cdn.redoc.ly (it hides the image when that fails).
_SELF_ONLY = "default-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'"
_CONSOLE_POLICY = f"{_SELF_ONLY}; img-src 'self' blob: data: http: https:; frame-ancestors 'none'"
_SWAGGER_POLICY = f"{_SELF_ONLY}; img-src 'self' data:; script-src 'self' 'unsafe-inline'; " + (
    "style-src 'self' 'unsafe-inline'"
)
_REDOC_POLICY = f"{_SELF_ONLY}; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " + (
    "worker-src 'self' blob:"
)


def add_pages(app: FastAPI) -> None:
    """Serve the console and the offline API reference (the app has docs_url=None)."""
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR), name="console")
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")

    @app.get("/", include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(
            CONSOLE_DIR / "index.html", headers={"Content-Security-Policy": _CONSOLE_POLICY}
        )

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API reference",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/console/favicon.svg",
            # no badge fetched from the public validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )
        return _with_policy(page, _SWAGGER_POLICY)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API reference",
            redoc_js_url=f"{root}/docs-assets/redoc.standalone.js",
            redoc_favicon_url=f"{root}/console/favicon.svg",
            with_google_fonts=False,
        )
        return _with_policy(page, _REDOC_POLICY)


def _with_policy(page: HTMLResponse, policy: str) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = policy
    return page
