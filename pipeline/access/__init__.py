"""Who is asking and what they may see: the one authorization layer.

    caller.py   Role, Grant, Caller: the vocabulary
    policy.py   every rule: scope by area and venue, tracing, in full or masked
    masking.py  how a masked person looks (the only place that applies it)
    audit.py    the audit row written before every read in full
    reads.py    the query library for a caller: scope, then mask or audit, then read

The HTTP API, the dashboards, the alerting job and the CLI all read through `Reads`.
The CLI acts as `admin` on the machine that holds the warehouse (`cli_caller`).
"""

from __future__ import annotations

from .caller import Caller, Grant, Role, local_admin, service
from .policy import Denied


def cli_caller() -> Caller:
    """The command line: an administrator, named by the operating system's account."""
    from .caller import local_account

    return local_admin(local_account())


def reads_for(settings, warehouse, owners=None):
    """`Reads` over ``warehouse``, auditing where this process can; ``owners`` (the
    account directory) knows venues' owner phones, which the warehouse does not keep."""
    from .audit import AuditTrail
    from .reads import Reads

    return Reads(warehouse, AuditTrail.for_warehouse(settings, warehouse), owners)


__all__ = ["Caller", "Denied", "Grant", "Role", "cli_caller", "local_admin", "reads_for", "service"]
