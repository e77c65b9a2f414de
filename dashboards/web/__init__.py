"""`ravao web`: the read API (and, on top of it, the dashboards) for signed-in people.

Every route reads through the one authorization layer (`pipeline.access.reads.Reads`)
with the caller of the request's session: nothing here scopes, masks or audits.
"""

from .app import create_app

__all__ = ["create_app"]
