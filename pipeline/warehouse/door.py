"""The warehouse's read-only door: whether a statement from outside may run, decided on
the engine's own parse of it.

    admit(sql, params, engine)   -> the statement to run, or `Refused` saying what and why

Every read that reaches a reader client (`ravao sql NAME|FILE`, the sink's door,
`ravao trace`, the dashboards) passes here first; the reader's settings (``readonly=1``
and the limits of `read_settings`) are the second wall. The engine parses the text twice,
never running it: ``formatQuerySingleLine`` takes it as a bound value (so no text can
break out of the question) and returns one canonical statement, or fails on more than
one; ``EXPLAIN AST`` of that statement gives its syntax tree, which is checked node by
node. The canonical statement, the one checked, is the one that runs.

What passes: one SELECT (``WITH``, ``UNION``, subqueries, joins), ``SHOW TABLES`` or
``DESCRIBE``, with no output clause (``INTO OUTFILE``, ``FORMAT``), no ``SETTINGS``, no
table function but the harmless generators of `ALLOWED_TABLE_FUNCTIONS`, none of the
functions of `DENIED_FUNCTIONS`, no table of another database but the catalogue tables
of `SYSTEM_TABLES`, and no personal table (`PERSONAL_TABLES`) unless the caller is one
of the named queries that need it (`PERSONAL_QUERIES`, through `personal_query`).

The checks scan every line of the tree and refuse on any match, so a line an identifier
with a line break in it adds to the dump can only cause a refusal, never hide a node.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .base import WarehouseError

# Table functions that generate rows from their arguments alone: no file, URL, server,
# program or other table behind them. Every other table function is refused.
ALLOWED_TABLE_FUNCTIONS = frozenset({
    "numbers", "numbers_mt", "zeros", "zeros_mt", "generaterandom", "generate_series", "generateseries",
    "values", "null", "view", "format",
})
# Scalar functions that read files, dictionaries (whose sources may be files, URLs,
# servers or programs), other tables by name, other servers, or stall the engine.
DENIED_FUNCTIONS = {
    "file": "reads a file on the warehouse's machine",
    "joinget": "reads a table named in a string", "joingetornull": "reads a table named in a string",
    "hascolumnintable": "looks up a table by name, on another server too",
    "catboostevaluate": "loads a model file", "modelevaluate": "loads a model file",
    "sleep": "stalls the engine", "sleepeachrow": "stalls the engine",
    "generateserialid": "writes to a coordination service",
    "showcertificate": "reads the server's certificate",
    "getclienthttpheader": "reads another request's headers",
    "addresstoline": "introspects the engine", "addresstolinewithinlines": "introspects the engine",
    "addresstosymbol": "introspects the engine", "demangle": "introspects the engine",
}
# Families, by prefix: a dictionary's source may be a file, a URL, a server or a program
# (dictGet, dictHas, dictIsIn, ...); the AI functions send their input to a provider over
# the network (aiGenerate, AIEmbed, ...); the Bayes classifiers load a model from disk.
DENIED_PREFIXES = {
    "dict": "reads a dictionary, whose source may be a file, a URL, a server or a program",
    "ai": "sends its input to an AI provider over the network",
    "naivebayes": "loads a model from the server's files",
}
# The catalogue: what an analyst (and `ravao warehouse status`) may ask of `system`.
SYSTEM_TABLES = frozenset({"one", "numbers", "numbers_mt", "zeros", "zeros_mt", "tables", "columns", "parts",
                           "databases", "functions", "table_functions", "data_type_families", "formats"})
# Tables holding names, phones, ID numbers, people's health answers, or who read them.
PERSONAL_TABLES = frozenset({"personal_data", "audit_log", "declarations"})
# The named queries that read personal tables, each through `Warehouse.read_personal`
# (its caller, the authorization layer, audits the read).
PERSONAL_QUERIES = frozenset({"personal_data_of", "person_by_phone", "audit_trail"})
STATEMENTS_ALLOWED = ("SelectWithUnionQuery", "ShowTables", "DescribeQuery")
STATEMENT_NAMES = {  # EXPLAIN AST's name of a statement -> how a user writes it
    "KillQueryQuery": "KILL", "SYSTEM": "SYSTEM", "Set": "SET", "SetRoleQuery": "SET ROLE", "InsertQuery": "INSERT",
    "CreateQuery": "CREATE", "AlterQuery": "ALTER", "DropQuery": "DROP", "DetachQuery": "DETACH",
    "AttachQuery": "ATTACH", "TruncateQuery": "TRUNCATE", "OptimizeQuery": "OPTIMIZE", "Rename": "RENAME/EXCHANGE",
    "UseQuery": "USE", "Explain": "EXPLAIN", "DeleteQuery": "DELETE", "UpdateQuery": "UPDATE",
    "GrantQuery": "GRANT/REVOKE", "ShowProcesslistQuery": "SHOW PROCESSLIST", "CheckQuery": "CHECK TABLE",
    "BackupQuery": "BACKUP/RESTORE", "UndropQuery": "UNDROP", "CreateSQLFunctionQuery": "CREATE FUNCTION",
    "ASTTransactionControl": "transaction",
}
ALLOWED = "the door runs one SELECT (or WITH ... SELECT), SHOW TABLES or DESCRIBE, nothing that writes"
NODE = re.compile(r"^( *)(\S+)(?: (\S+))?")  # a line of EXPLAIN AST: indent, node kind, its name


class Refused(WarehouseError):
    """The door refused a statement; the message names what and why."""


class Unparsable(Refused):
    """Refused because the engine cannot parse the text as one statement."""


class Engine(Protocol):
    """What the door needs of the engine that would run the statement (a reader client
    of chdb or of a server): parse text, explain a statement, name its catalogue. None of it
    runs the statement."""

    def format_query(self, sql: str) -> str:
        """``formatQuerySingleLine`` of ``sql``, bound as a String value."""

    def explain_ast(self, sql: str, params: Mapping[str, Any]) -> str:
        """``EXPLAIN AST <sql>`` with the caller's parameters, as plain text lines."""

    def catalogue(self) -> tuple[set[str], set[str], str]:
        """The engine's table function names, its database names, and the current database."""


@dataclass(frozen=True)
class Node:
    depth: int
    kind: str
    name: str


def read_settings(timeout_seconds: float, max_result_rows: int, max_result_bytes: int,
                  max_memory_bytes: int) -> dict[str, Any]:
    """The second wall, for every reader: no changes, and bounded time, memory and result
    size. ``readonly`` comes last: once it is set, a session takes no further settings."""
    return {"max_execution_time": timeout_seconds, "max_result_rows": max_result_rows,
            "max_result_bytes": max_result_bytes, "result_overflow_mode": "throw",
            "max_memory_usage": max_memory_bytes, "readonly": 1}


def configured_read_settings() -> dict[str, Any]:
    """`read_settings` with the process's RAVAO_QUERY_* settings."""
    from ..settings import get_settings

    settings = get_settings()
    return read_settings(settings.query_timeout_seconds, settings.query_max_result_rows,
                         settings.query_max_result_bytes, settings.query_max_memory_bytes)


def admit(sql: str, params: Mapping[str, Any], engine: Engine, *, personal: bool = False) -> str:
    """The canonical form of ``sql`` if the door lets it run, else `Refused`.
    ``personal`` lets personal tables through: only `personal_query` sets it."""
    canonical = _canonical(sql, engine)
    tree = _tree(canonical, params, engine)
    _check_statement(tree)
    table_functions, databases, current = engine.catalogue()
    table_functions = {name.lower() for name in table_functions}
    databases = {name.lower() for name in databases}
    for node in tree:
        _check_node(node, table_functions, databases, current, personal)
    _check_clauses(tree)
    if tree[0].kind == "ShowTables" and canonical.strip().upper() != "SHOW TABLES":
        # EXPLAIN AST names SHOW SETTINGS, DATABASES, CLUSTERS, MERGES, ... all ShowTables;
        # the engine's canonical form tells them apart.
        raise Refused("refused: a SHOW statement other than SHOW TABLES; system.tables, system.columns "
                      "and DESCRIBE answer the rest")
    return canonical


def personal_query(name: str):
    """A named query of `PERSONAL_QUERIES`, the only way to personal tables."""
    from .queries import load

    if name not in PERSONAL_QUERIES:
        raise Refused(f"{name!r} is not a query that may read personal data (those are: "
                      f"{', '.join(sorted(PERSONAL_QUERIES))})")
    return load(name)


def personal_query_of(sql: str, engine: Engine) -> str | None:
    """The name of the query of `PERSONAL_QUERIES` that ``sql`` is, judged on the engine's
    canonical form of both (comments, spacing and case of keywords do not matter), or None."""
    from .queries import load

    canonical = _canonical(sql, engine)
    for name in sorted(PERSONAL_QUERIES):
        if name not in _personal_canonical:
            _personal_canonical[name] = _canonical(load(name).sql, engine)
        if canonical == _personal_canonical[name]:
            return name
    return None


_personal_canonical: dict[str, str] = {}


def _canonical(sql: str, engine: Engine) -> str:
    try:
        return engine.format_query(sql).strip()
    except Refused:
        raise
    except WarehouseError as exc:
        message = _first_line(exc)
        if "Multi-statements" in message:
            raise Unparsable(f"refused: more than one statement; {ALLOWED}, one per request") from None
        raise Unparsable(f"refused: the engine cannot parse this as one statement ({message})") from None


def _tree(canonical: str, params: Mapping[str, Any], engine: Engine) -> list[Node]:
    try:
        text = engine.explain_ast(canonical, params)
    except WarehouseError as exc:
        message = _first_line(exc)
        if "READONLY" in message or "in readonly mode" in message:
            setting = re.search(r"modify '([^']+)'", message)
            raise Refused(f"refused: a SETTINGS clause{' (' + setting.group(1) + ')' if setting else ''}; reads "
                          "run with fixed settings and limits, so remove it") from None
        raise  # a missing parameter or a type: the caller's own mistake, with the engine's words
    nodes = []
    for line in text.splitlines():
        match = NODE.match(line)
        if match:
            nodes.append(Node(len(match.group(1)), match.group(2), match.group(3) or ""))
    if not nodes:
        raise Refused("refused: the engine returned no syntax tree for this statement")
    return nodes


def _check_statement(tree: list[Node]) -> None:
    root = tree[0]
    if root.kind not in STATEMENTS_ALLOWED:
        kind = STATEMENT_NAMES.get(root.kind) or root.kind.removesuffix("Query").upper()
        raise Refused(f"refused: {_article(kind)} {kind} statement; {ALLOWED}")


def _check_clauses(tree: list[Node]) -> None:
    """What follows a statement's body at the top: INTO OUTFILE, FORMAT, SETTINGS."""
    root, children = tree[0], [node for node in tree[1:] if node.depth == 1]
    if root.kind == "ShowTables" and children:
        raise Refused("refused: SHOW TABLES with clauses; SHOW TABLES alone lists this warehouse's tables, "
                      "and system.tables answers the rest")
    for clause in children[1:]:  # a SELECT's or DESCRIBE's first child is its body
        what = {"Literal": "INTO OUTFILE", "Identifier": "FORMAT", "Set": "SETTINGS"}.get(clause.kind)
        if what is None:
            raise Refused(f"refused: an unexpected part after the statement ({clause.kind} {clause.name})")
        raise Refused(f"refused: {_article(what)} {what} clause; results come back to the caller only, "
                      "in the door's format")


def _check_node(node: Node, table_functions: set[str], databases: set[str], current: str, personal: bool) -> None:
    """``table_functions`` and ``databases`` in lower case: the checks ignore case, to refuse more, not less."""
    if node.kind == "Set":
        raise Refused("refused: a SETTINGS clause; reads run with fixed settings and limits, so remove it")
    if node.kind == "Function":
        lowered = node.name.lower()
        if lowered in table_functions and lowered not in ALLOWED_TABLE_FUNCTIONS:
            raise Refused(f"refused: the table function {node.name}(); it reaches outside the warehouse's own "
                          "tables (files, URLs, other servers, programs, or tables by pattern). Allowed: "
                          + ", ".join(sorted(ALLOWED_TABLE_FUNCTIONS)))
        why = DENIED_FUNCTIONS.get(lowered) or next(
            (reason for prefix, reason in DENIED_PREFIXES.items() if lowered.startswith(prefix)), None)
        if why:
            raise Refused(f"refused: the function {node.name}(); it {why}")
    if node.kind in ("Identifier", "TableIdentifier"):
        parts = node.name.split(".")
        if not personal and any(part.lower() in PERSONAL_TABLES for part in parts):
            raise Refused(f"refused: {node.name} holds personal data (names, phones, ID numbers, health "
                          "answers, or who read them); it is read only by the named queries that need it, e.g. `ravao trace PERSON "
                          "--with-names`, which is audited")
        if len(parts) >= 2 and parts[0].lower() in databases and parts[0] != current:
            if not (parts[0] == "system" and parts[1] in SYSTEM_TABLES):
                raise Refused(f"refused: {node.name}; the door reads this warehouse's tables and the catalogue "
                              "(system." + ", system.".join(sorted(SYSTEM_TABLES)) + ") only")


def _article(word: str) -> str:
    return "an" if word[:1].upper() in "AEIOU" else "a"


def _first_line(exc: Exception, limit: int = 300) -> str:
    """The engine's message, without the echo of the whole statement it was handed."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    line = line.split(": In scope ")[0]
    return line if len(line) <= limit else line[:limit] + "..."
