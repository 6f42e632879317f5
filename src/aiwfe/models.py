"""Imports every domain's models so ``Base.metadata`` knows all tables (Alembic, tests)."""

from aiwfe.ops.models import Canary

__all__ = ["Canary"]
