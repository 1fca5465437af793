"""The API documentation page ``/docs`` (Swagger UI) from files vendored in the package.

FastAPI's default ``/docs`` loads Swagger UI's script and stylesheet from a CDN, so the page is
blank without internet access (a hospital network often has none). Here the same Swagger UI
(``swagger-ui-dist``, Apache-2.0; version and hashes in ``static/swagger-ui/SOURCE.md``) is
served from the package under ``/docs/assets/``, with a small start script of our own instead
of an inline one, so the page keeps a strict Content-Security-Policy (scripts from this origin
only). Nothing is downloaded at run time. ReDoc (``/redoc``) is not served.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

__all__ = ["SWAGGER_UI_VERSION", "router"]

router = APIRouter(include_in_schema=False)

SWAGGER_UI_VERSION: Final = "5.35.0"

_ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "start.js": "text/javascript; charset=utf-8",
    "contrast.css": "text/css; charset=utf-8",
    "LICENSE": "text/plain; charset=utf-8",
    "NOTICE": "text/plain; charset=utf-8",
    "swagger-ui-bundle.js.LICENSE.txt": "text/plain; charset=utf-8",
}
# Swagger UI sets inline styles; its scripts and everything else come from this origin only.
_CSP: Final = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_START: Final = """\
// Starts Swagger UI on the service's own OpenAPI document (no inline script: CSP).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    validatorUrl: null,
    onComplete: function () {
      // Swagger UI renders its header outside any landmark (axe "region"): name it the banner
      var header = document.querySelector("#swagger-ui .information-container");
      if (header) { header.setAttribute("role", "banner"); }
    },
  });
});
"""
# Swagger UI's own colours fail WCAG 2 AA contrast (white on #61affe is 2.3:1): darker shades
# of the same hues, loaded after its stylesheet (axe-core checks the page, tests/web).
_CONTRAST: Final = """\
/* inoplan: Swagger UI colours with at least 4.5:1 contrast (WCAG 2 AA 1.4.3) */
.swagger-ui .opblock.opblock-get .opblock-summary-method { background: #1565c0; }
.swagger-ui .opblock.opblock-post .opblock-summary-method { background: #17773f; }
.swagger-ui .opblock.opblock-put .opblock-summary-method { background: #a35200; }
.swagger-ui .opblock.opblock-delete .opblock-summary-method { background: #c62828; }
.swagger-ui .opblock.opblock-patch .opblock-summary-method { background: #00695c; }
.swagger-ui .info .title small pre { background: #555b66; }
.swagger-ui .info .title small.version-stamp pre { background: #3f6600; }
.swagger-ui .info .url, .swagger-ui .info a, .swagger-ui a.nostyle { color: #1f5fa8; }
.swagger-ui .btn.authorize { color: #17773f; border-color: #17773f; }
.swagger-ui .btn.authorize svg { fill: #17773f; }
.swagger-ui .json-schema-2020-12-expand-deep-button { color: #4d4d4d; }
/* a retired (deprecated) operation: Swagger UI fades it to 60 % opacity on grey; keep it
   readable (struck through, dark grey method badge) */
.swagger-ui .opblock.opblock-deprecated { opacity: 1; background: #f4f4f4; border-color: #767676; }
.swagger-ui .opblock.opblock-deprecated .opblock-summary-method { background: #555b66; }
.swagger-ui .opblock.opblock-deprecated .opblock-summary { border-color: #767676; }
/* the path links of the operation headers: at least 24 px tall (WCAG 2.2 AA 2.5.8) */
.swagger-ui .opblock-summary-path a.nostyle,
.swagger-ui .opblock-summary-path__deprecated a.nostyle {
  display: inline-block; min-height: 24px; line-height: 24px;
}
"""
_PAGE: Final = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>inoplan API documentation</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css?v={SWAGGER_UI_VERSION}">
<link rel="stylesheet" href="/docs/assets/contrast.css?v={SWAGGER_UI_VERSION}">
</head>
<body>
<div id="swagger-ui">
<noscript>The interactive API documentation needs JavaScript. The OpenAPI document itself is
at <a href="/openapi.json">/openapi.json</a>; docs/api.md describes every route.</noscript>
</div>
<script src="/docs/assets/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}"></script>
<script src="/docs/assets/start.js?v={SWAGGER_UI_VERSION}"></script>
</body>
</html>
"""


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": _CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }


@router.get("/docs", response_class=HTMLResponse)
def docs_page() -> HTMLResponse:
    """Swagger UI for the OpenAPI document, from the vendored files."""
    return HTMLResponse(_PAGE, headers={**_headers(), "Cache-Control": "no-cache"})


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> Response:
    """One vendored Swagger UI file (or the start script); nothing else is served here."""
    if name not in _ASSETS:
        return Response("not found", status_code=404, media_type="text/plain")
    if name == "start.js":
        body = _START.encode("utf-8")
    elif name == "contrast.css":
        body = _CONTRAST.encode("utf-8")
    else:
        body = (resources.files("inoplan.api") / "static" / "swagger-ui" / name).read_bytes()
    return Response(
        body,
        media_type=_ASSETS[name],
        headers={**_headers(), "Cache-Control": "public, max-age=86400"},
    )
