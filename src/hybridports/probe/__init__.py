"""Protocol probes. To add one: a module with a Probe subclass, and one line in PROBES.

``PROBE_FOR_PORT`` says which probe checks a planned flow, by transport and port; a flow of
the DCs' dynamic RPC range is expanded through the endpoint mapper instead (runner.py).
"""

from __future__ import annotations

from hybridports.probe.adws import AdwsProbe
from hybridports.probe.amqp import AmqpProbe
from hybridports.probe.crl import CrlProbe
from hybridports.probe.dns import DnsProbe
from hybridports.probe.https import HttpsProbe
from hybridports.probe.icmp import IcmpProbe
from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target, Verdict
from hybridports.probe.kerberos import KerberosProbe
from hybridports.probe.kpasswd import KpasswdProbe
from hybridports.probe.ldap import CldapProbe, LdapProbe, LdapsProbe
from hybridports.probe.msrpc import EpmProbe
from hybridports.probe.ntp import NtpProbe
from hybridports.probe.smb import SmbProbe
from hybridports.probe.tcp import TcpProbe
from hybridports.probe.winrm import WinrmProbe

PROBES: dict[str, Probe] = {
    probe.name: probe
    for probe in (
        TcpProbe(),
        DnsProbe(),
        EpmProbe(),
        KerberosProbe(),
        KpasswdProbe(),
        NtpProbe(),
        SmbProbe(),
        WinrmProbe(),
        AdwsProbe(),
        IcmpProbe(),
        CldapProbe(),
        LdapProbe(),
        LdapsProbe(),
        HttpsProbe(),
        CrlProbe(),
        AmqpProbe(),
    )
}

PROBE_FOR_PORT: dict[tuple[str, int], str] = {
    ("tcp", 53): "dns",
    ("udp", 53): "dns",
    ("tcp", 135): "epm",
    ("udp", 88): "kerberos",
    ("tcp", 88): "kerberos",
    ("udp", 464): "kpasswd",
    ("tcp", 464): "kpasswd",
    ("udp", 123): "ntp",
    ("tcp", 445): "smb",
    ("tcp", 5985): "winrm",
    ("tcp", 9389): "adws",
    ("icmp", 8): "icmp",
    ("udp", 389): "cldap",
    ("tcp", 389): "ldap",
    ("tcp", 3268): "ldap",
    ("tcp", 636): "ldaps",
    ("tcp", 3269): "ldaps",
    ("tcp", 443): "https",
    ("tcp", 80): "crl",
    ("tcp", 5671): "amqp",
}

__all__ = ["PROBES", "PROBE_FOR_PORT", "Outcome", "Probe", "ProbeContext", "Target", "Verdict"]
