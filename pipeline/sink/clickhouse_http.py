"""The part of ClickHouse's HTTP interface the sink's door speaks: what a request asks,
and answers and errors in ClickHouse's own shape, so clickhouse-connect's HTTP client,
Grafana's ClickHouse plugin and an analyst's tools take the door for a read-only server.

What a request carries (as clickhouse-connect 1.12 sends it, recorded against the door):
on connect ``SELECT version(), timezone()``, ``SELECT name, value, readonly FROM
system.settings LIMIT 10000`` and ``SELECT 1 AS check`` with ``FORMAT Native`` appended;
then each query in the body (or the ``query`` URL argument, or both: the argument first),
``FORMAT X`` at its end, ``param_<name>`` arguments for its parameters, in the URL or, when
they are long, as fields of a ``multipart/form-data`` body; and transport arguments
(``database``, ``query_id``, ``session_id``, ``wait_end_of_query``, ...).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# URL arguments about the transport, not the query: accepted and ignored (the door keeps
# no sessions, answers uncompressed and at the end of the query, sends no progress), or
# honoured (``database``, ``default_format``, ``query_id``).
TRANSPORT_ARGUMENTS = frozenset({
    "query", "user", "password", "database", "default_format", "query_id", "session_id", "session_timeout",
    "session_check", "compress", "decompress", "enable_http_compression", "http_zlib_compression_level",
    "wait_end_of_query", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
    "cancel_http_readonly_queries_on_client_close", "buffer_size", "client_protocol_version", "quota_key",
    "http_response_buffer_size", "add_http_cors_header", "role",
})
# Output formats the door answers in: none that reads a schema file or writes elsewhere.
OUTPUT_FORMATS = {name.lower(): name for name in (
    "Native", "JSON", "JSONStrings", "JSONCompact", "JSONCompactStrings", "JSONColumns", "JSONCompactColumns",
    "JSONEachRow", "JSONStringsEachRow", "JSONCompactEachRow", "JSONCompactStringsEachRow",
    "JSONCompactEachRowWithNames", "JSONCompactEachRowWithNamesAndTypes", "JSONCompactStringsEachRowWithNames",
    "JSONCompactStringsEachRowWithNamesAndTypes", "JSONObjectEachRow", "JSONLines", "NDJSON",
    "TabSeparated", "TabSeparatedRaw", "TabSeparatedWithNames", "TabSeparatedWithNamesAndTypes",
    "TabSeparatedRawWithNames", "TabSeparatedRawWithNamesAndTypes", "TSV", "TSVRaw", "TSVWithNames",
    "TSVWithNamesAndTypes", "TSVRawWithNames", "TSVRawWithNamesAndTypes",
    "CSV", "CSVWithNames", "CSVWithNamesAndTypes",
    "RowBinary", "RowBinaryWithNames", "RowBinaryWithNamesAndTypes", "Values",
    "Pretty", "PrettyCompact", "PrettyCompactMonoBlock", "PrettyNoEscapes", "PrettyCompactNoEscapes",
    "PrettySpace", "PrettySpaceNoEscapes", "PrettyMonoBlock",
)}
TRAILING_FORMAT = re.compile(r"\s+FORMAT\s+(`?)([A-Za-z0-9_]+)\1\s*$", re.IGNORECASE)

# ClickHouse's error codes the door answers with, and the HTTP status a server gives them.
ERRORS = {
    516: ("AUTHENTICATION_FAILED", 401), 497: ("ACCESS_DENIED", 403), 164: ("READONLY", 403),
    81: ("UNKNOWN_DATABASE", 404), 73: ("UNKNOWN_FORMAT", 400), 62: ("SYNTAX_ERROR", 400),
    202: ("TOO_MANY_SIMULTANEOUS_QUERIES", 503), 1000: ("POCO_EXCEPTION", 500),
    27: ("CANNOT_PARSE_INPUT_ASSERTION_FAILED", 400), 131: ("TOO_LARGE_STRING_SIZE", 413),
    159: ("TIMEOUT_EXCEEDED", 500), 396: ("TOO_MANY_ROWS_OR_BYTES", 500), 241: ("MEMORY_LIMIT_EXCEEDED", 500),
    456: ("UNKNOWN_QUERY_PARAMETER", 400), 457: ("BAD_QUERY_PARAMETER", 400), 60: ("UNKNOWN_TABLE", 404),
    47: ("UNKNOWN_IDENTIFIER", 400), 46: ("UNKNOWN_FUNCTION", 400), 43: ("ILLEGAL_TYPE_OF_ARGUMENT", 400),
}
ENGINE_ERROR = re.compile(r"^Code: (\d+)\. DB::Exception: (.*?)(?: \(([A-Z_]+)\))?(?: \(version [^)]*\))?\s*$",
                          re.DOTALL)


class ClickHouseError(Exception):
    """An answer in ClickHouse's error shape: ``Code: N. DB::Exception: message. (NAME)``."""

    def __init__(self, code: int, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        known = ERRORS.get(code)
        self.name = name or (known[0] if known else "UNKNOWN_EXCEPTION")
        self.status = known[1] if known else 500

    def body(self, version: str) -> bytes:
        message = self.message.rstrip(".")
        return f"Code: {self.code}. DB::Exception: {message}. ({self.name}) (version {version})\n".encode()

    @classmethod
    def from_engine(cls, text: str, default_code: int = 1000) -> "ClickHouseError":
        """The engine's own error (as the warehouse passes it on) in its own code and name."""
        match = ENGINE_ERROR.match(text.strip())
        if match:
            return cls(int(match.group(1)), match.group(2), match.group(3))
        return cls(default_code, text)


@dataclass
class Request:
    user: str
    password: str
    sql: str
    params: dict[str, str]  # name -> value in ClickHouse's text form
    settings: dict[str, str]  # every other argument that is not the transport's
    database: str | None = None
    default_format: str | None = None
    query_id: str | None = None
    ignored: list[str] = field(default_factory=list)


def credentials(headers: Mapping[str, str], arguments: Mapping[str, str]) -> tuple[str, str]:
    """As ClickHouse takes them: ``X-ClickHouse-User``/``-Key`` headers, HTTP basic auth,
    or ``user``/``password`` arguments; none: the user ``default`` without a password."""
    if "x-clickhouse-user" in headers:
        return headers["x-clickhouse-user"], headers.get("x-clickhouse-key", "")
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise ClickHouseError(516, "the Authorization header is not HTTP basic credentials") from None
        return user, password
    return arguments.get("user", "default"), arguments.get("password", "")


def form_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """The fields of a ``multipart/form-data`` body (clickhouse-connect sends long
    parameters so), by the standard library's MIME parser."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ClickHouseError(27, "the multipart/form-data body has no parts")
    fields = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None or part.get_filename():
            raise ClickHouseError(497, "refused: external data (a file part); the door reads only the warehouse's "
                                       "own tables")
        payload = part.get_payload(decode=True)
        try:
            fields.append((str(name), payload.decode("utf-8")))
        except (AttributeError, UnicodeDecodeError):  # a part that is itself multipart has no bytes
            raise ClickHouseError(27, f"the form field {name} is not UTF-8 text") from None
    return fields


def parse(headers: Mapping[str, str], arguments: Iterable[tuple[str, str]], body: bytes) -> Request:
    """The request, or `ClickHouseError` (400s) when it is not one ClickHouse would take."""
    pairs = list(arguments)
    user, password = credentials(headers, dict(pairs))  # from the head alone, never a form field
    content_type = headers.get("content-type", "")
    if headers.get("content-encoding", "identity").lower() not in ("", "identity"):
        raise ClickHouseError(497, "refused: a compressed request body; send the query uncompressed")
    if content_type.lower().startswith("multipart/form-data"):
        pairs += form_fields(content_type, body)
        body = b""
    named = dict(pairs)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        if "query" not in named:
            raise ClickHouseError(27, "the query is not UTF-8 text") from None
        text = ""  # an INSERT's data (ClickHouse reads the body so): the URL's statement is judged alone

    sql = "\n".join(part for part in (named.get("query", ""), text) if part)
    params, settings = {}, {}
    for name, value in pairs:
        if name.startswith("param_"):
            params[name[len("param_"):]] = value
        elif name not in TRANSPORT_ARGUMENTS:
            settings[name] = value
    return Request(user, password, sql, params, settings, named.get("database") or None,
                   named.get("default_format") or None, named.get("query_id") or None)


def output_format(name: str) -> str:
    known = OUTPUT_FORMATS.get(name.lower())
    if known is None:
        raise ClickHouseError(73, f"refused: the format {name}; the door answers in "
                                  + ", ".join(sorted(set(OUTPUT_FORMATS.values()))))
    return known


def content_type(fmt: str) -> str:
    if fmt.startswith("JSON") or fmt == "NDJSON":
        return "application/json; charset=UTF-8"
    if fmt.startswith("RowBinary") or fmt == "Native":
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


def summary(rows: int = 0, size: int = 0) -> str:
    return json.dumps({"read_rows": "0", "read_bytes": "0", "written_rows": "0", "written_bytes": "0",
                       "total_rows_to_read": "0", "result_rows": str(rows), "result_bytes": str(size)})
