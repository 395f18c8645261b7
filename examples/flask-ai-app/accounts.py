"""The app's own users (SQLite), each mapped to a Tollgate tenant and user.

The app keeps its login; what it no longer keeps is roles, plans, run counters or credit
balances: those live in Tollgate, which reads the role from its own database at decision
time (a role copied into the app's session or a token claim goes stale).
"""

import sqlite3
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

from werkzeug.security import check_password_hash, generate_password_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  tollgate_tenant_id TEXT NOT NULL,
  tollgate_user_id TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class User:
    id: str
    email: str
    tollgate_tenant_id: str
    tollgate_user_id: str


class Accounts:
    def __init__(self, path: str) -> None:
        self.path = path
        with self._connect() as db:
            db.execute(SCHEMA)

    def add(self, email: str, password: str, tollgate_tenant_id: str, tollgate_user_id: str) -> User:
        user = User(f"u_{uuid.uuid4().hex}", email.strip().lower(), tollgate_tenant_id, tollgate_user_id)
        with self._connect() as db:
            db.execute(
                "INSERT INTO users (id, email, password_hash, tollgate_tenant_id, tollgate_user_id) VALUES (?, ?, ?, ?, ?)",
                (user.id, user.email, generate_password_hash(password), tollgate_tenant_id, tollgate_user_id),
            )
        return user

    def sign_in(self, email: str, password: str) -> Optional[User]:
        row = self._row("email = ?", email.strip().lower())
        if row is None or not check_password_hash(row["password_hash"], password):
            return None
        return _user(row)

    def get(self, user_id: str) -> Optional[User]:
        row = self._row("id = ?", user_id)
        return _user(row) if row else None

    def _row(self, where: str, value: str) -> Optional[sqlite3.Row]:
        with self._connect() as db:
            row: Optional[sqlite3.Row] = db.execute(f"SELECT * FROM users WHERE {where}", (value,)).fetchone()
            return row

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one unit of work: committed (or rolled back) and closed."""
        db = sqlite3.connect(self.path)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["email"], row["tollgate_tenant_id"], row["tollgate_user_id"])
