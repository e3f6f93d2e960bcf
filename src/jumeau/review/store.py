"""The study database: SQLAlchemy tables, SQLite by default, any SQLAlchemy URL for deployment.

What a reviewer may learn and what stays server-side are kept apart in the tables themselves:
`Record.payload` is what a card shows; `Record.truth` is read only by the results code. Record ids
are random (not row numbers, not seeded), and records are inserted in a random order, so neither an
id nor the database order says anything about the truth. Tokens are stored as SHA-256 hashes:
they are 256-bit random strings, so a slow password hash would add nothing.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from jumeau.errors import JumeauError

TOKEN_BYTES = 32
LABELS = ("real", "artificial")


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "study"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seed: Mapped[int] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)  # schema, columns, options
    admin_token_hash: Mapped[str] = mapped_column(String(64))
    secret: Mapped[str] = mapped_column(String(64))  # signs CSRF tokens
    closed: Mapped[bool] = mapped_column(Boolean, default=False)


class Record(Base):
    __tablename__ = "record"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, opaque
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # display values by column
    truth: Mapped[str] = mapped_column(String(10))  # "real" | "artificial": server-side only


class Reviewer(Base):
    __tablename__ = "reviewer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)


class Assignment(Base):
    __tablename__ = "assignment"
    __table_args__ = (
        UniqueConstraint("reviewer_id", "record_id"),
        UniqueConstraint("reviewer_id", "position"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewer.id"))
    record_id: Mapped[str] = mapped_column(ForeignKey("record.id"))
    position: Mapped[int] = mapped_column(Integer)


class Vote(Base):
    __tablename__ = "vote"
    __table_args__ = (UniqueConstraint("reviewer_id", "record_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewer.id"))
    record_id: Mapped[str] = mapped_column(ForeignKey("record.id"))
    label: Mapped[str] = mapped_column(String(10))
    confidence: Mapped[int] = mapped_column(Integer)
    variables: Mapped[list[str]] = mapped_column(JSON)
    remark: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def database_url(target: str | Path) -> str:
    """A SQLAlchemy URL as given, or a SQLite file path made into one."""
    text = str(target)
    return text if "://" in text else f"sqlite:///{Path(text).resolve()}"


def engine_for(target: str | Path) -> Engine:
    url = database_url(target)
    engine = create_engine(url, future=True)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    """WAL journal (readers never block the writer; a crash loses no committed vote) and a
    busy timeout, so two reviewers voting at once wait for each other instead of failing."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class StudyStore:
    """Sessions on one study database."""

    def __init__(self, target: str | Path) -> None:
        self.target = target
        self.engine = engine_for(target)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_tables(self) -> None:
        """Create the tables; a new SQLite file is made readable by its owner only (it holds
        real patients' records and the truth), and SQLite gives its journal the same mode."""
        if "://" not in str(self.target):
            path = Path(self.target)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        Base.metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def study(self, session: Session) -> Study:
        study = session.scalars(select(Study)).first()
        if study is None:
            raise JumeauError("this database holds no review study; create one first")
        return study

    def reviewer_by_token(self, session: Session, token: str) -> Reviewer | None:
        if not token or len(token) > 200:
            return None
        return session.scalars(
            select(Reviewer).where(Reviewer.token_hash == token_hash(token))
        ).first()

    def is_admin(self, session: Session, token: str) -> bool:
        if not token or len(token) > 200:
            return False
        return secrets.compare_digest(self.study(session).admin_token_hash, token_hash(token))
