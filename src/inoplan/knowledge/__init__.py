"""The label as versioned data: one folder per label revision under ``labels/``."""

from inoplan.knowledge.loader import available_versions, load_label, resolve_label_id

__all__ = ["available_versions", "load_label", "resolve_label_id"]
