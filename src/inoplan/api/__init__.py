"""The REST API (FastAPI). Importing this package imports FastAPI: keep it off the CLI path."""

from inoplan.api.app import create_app

__all__ = ["create_app"]
