"""Alembic migration scripts, shipped inside the package so every image can run `aiwfe migrate`."""
