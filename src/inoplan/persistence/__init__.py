"""SQLAlchemy 2 adapters: rows, engine, repositories, unit of work, Alembic migrations.

Nothing here runs at import time; ``inoplan.bootstrap`` builds the engine from ``Settings``.
"""
