"""``/docs`` from vendored Swagger UI files (issue 14, item 6): no CDN, nothing downloaded at run
time, a strict Content-Security-Policy; the files are the ones SOURCE.md names (hashes)."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from typing import Any

import pytest


@pytest.fixture
def client(tmp_path: Any) -> Any:
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from inoplan.api.app import create_app
    from inoplan.config import Settings

    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/docs.db", secret_key=SecretStr("d" * 48)
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_docs_page_loads_only_from_this_origin(client: Any) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/docs/assets/swagger-ui-bundle.js?v=5.35.0" in sources
    assert "/docs/assets/start.js?v=5.35.0" in sources
    assert all(s.startswith("/") for s in sources), sources
    assert "<script>" not in html  # no inline script: the CSP allows this origin only
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "cdn" not in csp


def test_vendored_files_are_the_ones_source_md_names(client: Any) -> None:
    folder = resources.files("inoplan.api") / "static" / "swagger-ui"
    source = (folder / "SOURCE.md").read_text("utf-8")
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert f"`{name}` {digest}" in source, name
        served = client.get(f"/docs/assets/{name}")
        assert served.status_code == 200
        assert hashlib.sha256(served.content).hexdigest() == digest
    assert "Apache License" in (folder / "LICENSE").read_text("utf-8")
    assert client.get("/docs/assets/LICENSE").status_code == 200


def test_start_script_points_at_this_service_s_openapi(client: Any) -> None:
    script = client.get("/docs/assets/start.js")
    assert script.status_code == 200
    assert 'url: "/openapi.json"' in script.text
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/docs/assets/index.html", "/docs/assets/..%2Fapp.py", "/docs/assets/SOURCE.md", "/redoc"],
)
def test_nothing_else_is_served(client: Any, path: str) -> None:
    assert client.get(path).status_code == 404
