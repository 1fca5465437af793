"""Anchor of ``bench_records.py``: FastAPI + one durable SQLite insert per request.

The least a durable HTTP write can cost on this machine: the same web stack as inoplan (FastAPI
under Uvicorn, JSON body), one ``INSERT`` and ``COMMIT`` on a SQLite file in WAL mode with
``synchronous=FULL`` (an fsync per acknowledged write, as inoplan's SQLite engine). No
validation, no audit. The database file is named by ``ANCHOR_DB``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Any

from fastapi import Body, FastAPI

app = FastAPI()
_lock = threading.Lock()
_connection = sqlite3.connect(
    os.environ.get("ANCHOR_DB", "anchor.db"), check_same_thread=False, isolation_level=None
)
_connection.execute("PRAGMA journal_mode=WAL")
_connection.execute("PRAGMA synchronous=FULL")
_connection.execute(
    "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, stream TEXT, data TEXT)"
)


@app.post("/streams/{stream}/events", status_code=201)
def append(stream: str, event: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    with _lock:
        _connection.execute("BEGIN IMMEDIATE")
        cursor = _connection.execute(
            "INSERT INTO events (stream, data) VALUES (?, ?)", (stream, json.dumps(event))
        )
        _connection.execute("COMMIT")
    return {"id": cursor.lastrowid}
