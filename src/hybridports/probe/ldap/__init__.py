"""Directory probes: CLDAP ping on UDP 389 (spec §7.3), LDAP rootDSE on TCP 389/3268 (§7.4)
and LDAPS on TCP 636/3269 (§7.5). LDAPv3 messages are BER-encoded with pyasn1 (codec.py).
"""

from __future__ import annotations

from hybridports.probe.ldap.cldap import CldapProbe
from hybridports.probe.ldap.ldaps import LdapsProbe
from hybridports.probe.ldap.rootdse import LdapProbe

__all__ = ["CldapProbe", "LdapProbe", "LdapsProbe"]
