"""Who is on the other end of a loopback connection: the operating-system account that
owns the client's socket, as the kernel lists it (``/proc/net/tcp``). The sink's endpoint
records it as the actor of an audit row, so a caller cannot name someone else."""

from __future__ import annotations

import pwd
from pathlib import Path

TCP_TABLE = Path("/proc/net/tcp")
LOOPBACK = "0100007F"  # 127.0.0.1 as the kernel prints it (little-endian hex)


def loopback_peer_account(client_port: int, server_port: int, table: Path = TCP_TABLE) -> str | None:
    """The account owning the socket 127.0.0.1:client_port -> 127.0.0.1:server_port, or
    None when the kernel does not say (another OS, the socket already gone)."""
    local, remote = f"{LOOPBACK}:{client_port:04X}", f"{LOOPBACK}:{server_port:04X}"
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 7 and fields[1] == local and fields[2] == remote:
            uid = int(fields[7])
            try:
                return pwd.getpwuid(uid).pw_name
            except KeyError:
                return f"uid {uid}"
    return None
