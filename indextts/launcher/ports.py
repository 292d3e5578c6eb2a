"""Ports: can the app bind one, and which processes listen on it (/proc/net/tcp{,6} -> /proc/*/fd).

Standard library only: ``python3 -m indextts.launcher port-holders PORT`` (scripts/launcher.sh) runs it with
the system python3.
"""

from __future__ import annotations

import enum
import errno
import os
import socket
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"  # the TCP state column of /proc/net/tcp


class PortState(enum.Enum):
    FREE = "free"
    TAKEN = "taken"  # in use (or reserved: EACCES)
    UNBINDABLE = "unbindable"  # any other bind error: the host is not an address of this machine


def port_state(host: str, port: int) -> PortState:
    """Whether the app could bind host:port now (the same check as app.py's: SO_REUSEADDR set)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return PortState.TAKEN if exc.errno in (errno.EADDRINUSE, errno.EACCES) else PortState.UNBINDABLE
    return PortState.FREE


def listening_inodes(port: int, proc: Path = PROC) -> set[str]:
    """Socket inodes in LISTEN state on ``port`` (IPv4 and IPv6) in this network namespace."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            rows = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def port_holders(port: int, proc: Path = PROC) -> list[int]:
    """PIDs (sorted) with a listening TCP socket on ``port``, among the processes this user may inspect."""
    inodes = listening_inodes(port, proc)
    if not inodes:
        return []
    wanted = {f"socket:[{inode}]" for inode in inodes}
    holders = []
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        fd_dir = proc / name / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd_dir / fd) in wanted:
                    holders.append(int(name))
                    break
            except OSError:
                continue
    return sorted(holders)
