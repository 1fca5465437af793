"""Population PK models of inotuzumab ozogamicin as data (one TOML file per model)."""

from inoplan.knowledge.pk.loader import available_models, load_pk_model, select_model

__all__ = ["available_models", "load_pk_model", "select_model"]
