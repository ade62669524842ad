"""Which Windows process serves a planned port, so program-scoped Windows Firewall rules
(Windows' own "Active Directory Domain Services (LDAP-In)" names lsass.exe) can be decided.

Only the server side is known: the process behind a well-known AD, DNS, SMB or WinRM port
on a Windows server. The client process of an outbound flow (which agent, which .NET host)
is not, so an outbound rule scoped to a program stays undecidable.
"""

from __future__ import annotations

from hybridports.model import Role

# (transport, port) → (program, service or None) of the process that listens there.
_LSASS = ("lsass.exe", None)
SERVER_PROCESS: dict[tuple[str, int], tuple[str, str | None]] = {
    ("tcp", 53): ("dns.exe", "dns"),
    ("udp", 53): ("dns.exe", "dns"),
    ("tcp", 88): _LSASS,
    ("udp", 88): _LSASS,
    ("tcp", 464): _LSASS,
    ("udp", 464): _LSASS,
    ("tcp", 389): _LSASS,
    ("udp", 389): _LSASS,
    ("tcp", 636): _LSASS,
    ("tcp", 3268): _LSASS,
    ("tcp", 3269): _LSASS,
    ("tcp", 135): ("svchost.exe", "rpcss"),
    ("udp", 123): ("svchost.exe", "w32time"),
    ("tcp", 445): ("system", None),
    ("tcp", 139): ("system", None),
    ("tcp", 5985): ("system", None),  # WinRM listens through http.sys
    ("tcp", 5986): ("system", None),
    ("tcp", 9389): ("microsoft.activedirectory.webservices.exe", "adws"),
    ("tcp", 443): ("system", None),  # AD FS and WAP serve through http.sys
    ("tcp", 49443): ("system", None),
}
# The DC's dynamic RPC endpoints hybrid identity uses (DRSUAPI, NETLOGON, LSARPC, SAMR) all
# live in lsass.exe.
RPC_DYNAMIC_PROCESS = _LSASS
WINDOWS_ROLES = (Role.DC, Role.ADFS, Role.WAP, Role.CONNECT, Role.PTA_AGENT, Role.CLOUD_SYNC_AGENT)


def server_process(
    role: Role, transport: str, low: int, high: int, rpc_dynamic: bool
) -> tuple[str, str | None] | None:
    """The listening process for a flow to a host of ``role``, when it is known."""
    if role not in WINDOWS_ROLES:
        return None
    if transport == "icmp":
        return ("system", None)  # the kernel answers echo requests
    if rpc_dynamic:
        return RPC_DYNAMIC_PROCESS
    if low != high:
        return None
    return SERVER_PROCESS.get((transport, low))
