"""Who may sign in to the sink's door, and what each may read: a small table, name ->
password hash and rights, so that analyst accounts can be added beside the services.

    admin    the CLI on the machine that holds the warehouse
    web      the web process (dashboards, the HTTP API)
    alerts   the alerting job

All read the door's non-personal tables; an account with ``personal`` may also run the
named personal queries of `door.PERSONAL_QUERIES` (the caller, `pipeline.access`, decides
for whom and audits each read). Passwords are random, generated at each start of the
sink and written to its state file; only their hashes stay in memory here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

SERVICE_ACCOUNTS = ("admin", "web", "alerts")


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: bytes
    personal: bool  # may run the named personal queries


def _hash(password: str) -> bytes:
    # The passwords are 32 random bytes: a plain digest cannot be reversed by guessing.
    return hashlib.sha256(password.encode()).digest()


class Accounts:
    def __init__(self) -> None:
        self._table: dict[str, Account] = {}

    def add(self, name: str, password: str, *, personal: bool) -> None:
        self._table[name] = Account(name, _hash(password), personal)

    def check(self, name: str, password: str) -> Account | None:
        """The account if ``password`` is its password, else None (compared in constant time)."""
        account = self._table.get(name)
        digest = _hash(password)
        if account is None:
            hmac.compare_digest(digest, digest)  # as long as a known name takes
            return None
        return account if hmac.compare_digest(digest, account.password_hash) else None


def generate() -> tuple[Accounts, dict[str, str]]:
    """The service accounts with fresh passwords: the table, and the passwords for the
    state file."""
    accounts, passwords = Accounts(), {}
    for name in SERVICE_ACCOUNTS:
        passwords[name] = secrets.token_urlsafe(32)
        accounts.add(name, passwords[name], personal=True)
    return accounts, passwords
