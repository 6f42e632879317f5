"""The canary table: timestamped rows written during drills to measure data loss (RPO)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from aiwfe.core.db import Base


class Canary(Base):
    __tablename__ = "ops_canary"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    written_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    source: Mapped[str] = mapped_column(String(64))
