"""Every deliberate error has its HTTP problem mapping, and none reaches a client as a 500.

The class tree is walked, not listed: an error class added later anywhere in the package is
found here, and the tests fail until it is defined in ``inoplan.errors`` and has a status in
``inoplan.api.problems.STATUS_FOR_ERROR``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import inoplan
import inoplan.errors
from inoplan.api.problems import PROBLEM_JSON, STATUS_FOR_ERROR, install, status_for
from inoplan.errors import CdsError


def _import_every_module() -> None:
    for info in pkgutil.walk_packages(inoplan.__path__, prefix="inoplan."):
        if ".migrations." in info.name or info.name.endswith(".__main__"):
            continue  # Alembic scripts run only inside Alembic; __main__ runs the CLI
        importlib.import_module(info.name)


def _subclasses(cls: type[CdsError]) -> Iterator[type[CdsError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def every_error_class() -> list[type[CdsError]]:
    _import_every_module()
    return sorted(set(_subclasses(CdsError)), key=lambda c: f"{c.__module__}.{c.__qualname__}")


ERRORS = every_error_class()


def instance_of(cls: type[CdsError]) -> CdsError:
    """An instance built from the constructor's signature (1 for an int, else a text)."""
    parameters = [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self"
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        and p.default is p.empty
    ]
    if not parameters:  # Exception's own (*args) signature
        return cls(f"{cls.__name__} raised on purpose")
    return cls(*(1 if p.annotation in ("int", int) else f"{p.name}-value" for p in parameters))


def test_the_class_tree_is_walked() -> None:
    names = {cls.__name__ for cls in ERRORS}
    # the public tree, and the errors that used to live in the adapters and services
    assert set(inoplan.errors.__all__) - {"CdsError"} <= names
    assert {"Unauthenticated", "Forbidden", "PreconditionRequired", "NoDoseToPrepare"} <= names


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_is_defined_in_the_error_module(cls: type[CdsError]) -> None:
    assert cls.__module__ == "inoplan.errors", (
        f"{cls.__module__}.{cls.__qualname__}: define deliberate errors in inoplan.errors"
    )
    assert cls.__name__ in inoplan.errors.__all__
    assert cls.__doc__


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_has_a_status_of_its_own_that_is_not_500(cls: type[CdsError]) -> None:
    status = status_for(cls)
    assert status is not None, f"{cls.__name__} has no entry in STATUS_FOR_ERROR"
    assert status != 500
    assert 400 <= status <= 599


def test_the_root_is_not_a_catch_all() -> None:
    # with the root mapped, a forgotten subclass would silently get the root's status
    assert CdsError not in STATUS_FOR_ERROR
    assert status_for(CdsError) is None


def test_a_class_without_a_status_would_be_caught() -> None:
    class Unmapped(CdsError):
        """Only for this test."""

    assert status_for(Unmapped) is None


@pytest.fixture(scope="module")
def raising_client() -> Iterator[TestClient]:
    app = FastAPI()
    install(app)

    @app.get("/raise/{name}")
    def raise_error(name: str) -> None:
        cls = next(c for c in ERRORS if c.__name__ == name)
        raise instance_of(cls)

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_reaches_the_client_as_its_problem_document(
    raising_client: TestClient, cls: type[CdsError]
) -> None:
    response = raising_client.get(f"/raise/{cls.__name__}")
    assert response.status_code == status_for(cls)
    assert response.status_code != 500
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == response.status_code
    assert body["title"] != "Error"  # every status in use has its title
    assert body["detail"]
    if response.status_code >= 500:  # the server's fault: a fixed text, details only in the log
        assert "value" not in body["detail"]
    elif issubclass(cls, inoplan.errors.InvalidInput):
        assert body["field"]
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if response.status_code == 429:
        assert response.headers["retry-after"] == "1"
