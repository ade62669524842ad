"""LDAP rootDSE over TCP 389 and the global catalog on 3268 (spec §7.4; RFC 4511, RFC 4512 §5.1).

An anonymous base search of the entry ``""``: AD answers it without a bind, and
``supportedCapabilities`` holding LDAP_CAP_ACTIVE_DIRECTORY_OID tells AD from other LDAP
servers. The same judgement serves LDAPS (ldaps.py) once TLS is up.
"""

from __future__ import annotations

from typing import Any

from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.ldap import codec
from hybridports.probe.net import BadReply, Stream, tcp_check

MESSAGE_ID = 1
AD_CAPABILITY = "1.2.840.113556.1.4.800"  # LDAP_CAP_ACTIVE_DIRECTORY_OID
GC_PORTS = (3268, 3269)
ATTRIBUTES = [
    "defaultNamingContext",
    "rootDomainNamingContext",
    "dnsHostName",
    "ldapServiceName",
    "serverName",
    "isGlobalCatalogReady",
    "isSynchronized",
    "supportedLDAPVersion",
    "supportedSASLMechanisms",
    "supportedCapabilities",
    "domainFunctionality",
    "forestFunctionality",
    "domainControllerFunctionality",
]
# msDS-Behavior-Version values (MS-ADTS 6.1.4.4).
LEVELS = {
    0: "2000",
    1: "2003 interim",
    2: "2003",
    3: "2008",
    4: "2008 R2",
    5: "2012",
    6: "2012 R2",
    7: "2016",
    10: "2025",
}
MIN_FOREST_LEVEL = 2  # Windows Server 2003: the Entra Connect prerequisite


def request() -> bytes:
    return codec.base_search(MESSAGE_ID, codec.present_filter("objectClass"), ATTRIBUTES)


async def query(stream: codec.Channel) -> codec.SearchReply:
    """Send the rootDSE search on an open stream and read the reply up to SearchResultDone."""
    await stream.send(request())
    return await codec.search_over(stream, MESSAGE_ID)


def _bool(reply: codec.SearchReply, name: str) -> bool | None:
    value = reply.text(name)
    return None if value is None else value.strip().upper() == "TRUE"


def _int(reply: codec.SearchReply, name: str) -> int | None:
    value = reply.text(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        raise BadReply(f"{name} is not a number: {value!r}") from None


def level_name(level: int | None) -> str:
    if level is None:
        return "unknown"
    return f"Windows Server {LEVELS[level]}" if level in LEVELS else f"level {level}"


def judge(reply: codec.SearchReply, port: int, label: str = "LDAP") -> Outcome:
    """The verdict on a rootDSE reply (``label`` names the transport in the detail)."""
    if reply.result_code != 0:
        text = f" ({reply.error_message.strip()})" if reply.error_message.strip() else ""
        return Outcome.error(
            f"{label} server refused the anonymous rootDSE read: {reply.result_name}{text}",
            result_code=reply.result_code,
        )
    if reply.entries == 0:
        return Outcome.error(f"{label} server returned no rootDSE entry (resultCode success)")
    capabilities = reply.texts("supportedCapabilities")
    facts: dict[str, Any] = {
        "dnsHostName": reply.text("dnsHostName"),
        "defaultNamingContext": reply.text("defaultNamingContext"),
        "rootDomainNamingContext": reply.text("rootDomainNamingContext"),
        "ldapServiceName": reply.text("ldapServiceName"),
        "serverName": reply.text("serverName"),
        "isGlobalCatalogReady": _bool(reply, "isGlobalCatalogReady"),
        "isSynchronized": _bool(reply, "isSynchronized"),
        "domainFunctionality": _int(reply, "domainFunctionality"),
        "forestFunctionality": _int(reply, "forestFunctionality"),
        "domainControllerFunctionality": _int(reply, "domainControllerFunctionality"),
        "supportedLDAPVersion": reply.texts("supportedLDAPVersion"),
        "supportedSASLMechanisms": reply.texts("supportedSASLMechanisms"),
    }
    if AD_CAPABILITY not in capabilities:
        vendor = ", ".join(capabilities[:3]) or "none"
        return Outcome.error(
            f"LDAP server but not Active Directory (no capability {AD_CAPABILITY}; "
            f"capabilities: {vendor})",
            **facts,
        )
    host = facts["dnsHostName"] or "?"
    forest = facts["forestFunctionality"]
    detail = (
        f"AD {label} rootDSE from {host} ({facts['defaultNamingContext']}), "
        f"forest level {level_name(forest)}"
    )
    if port in GC_PORTS:
        ready = facts["isGlobalCatalogReady"]
        facts["gc"] = bool(ready)
        detail += "; global catalog ready" if ready else "; NOT a ready global catalog"
    warnings = []
    if forest is not None and forest < MIN_FOREST_LEVEL:
        warnings.append("forest functional level below Windows Server 2003 (Entra Connect needs 2)")
    if facts["isSynchronized"] is False:
        warnings.append("isSynchronized FALSE: the DC has not finished its initial replication")
    if warnings:
        detail += "; warning: " + "; ".join(warnings)
    return Outcome.open(detail, **facts)


class LdapProbe(Probe):
    name = "ldap"
    description = "anonymous LDAP rootDSE read (TCP 389, GC 3268): proves Active Directory"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        async def exchange(stream: Stream) -> Outcome:
            return judge(await query(stream), target.port)

        return await tcp_check(target, ctx, "LDAP", exchange)
