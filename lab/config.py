"""Fixed facts about the lab: names, addresses, domain, paths.

Only RFC 2544 benchmarking space (198.18.0.0/15) and the IPv6 documentation prefix
(2001:db8::/32) are used, and only inside the lab's own network namespaces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# --- namespaces and links -------------------------------------------------------------------
NS_CLIENT = "hp-client"  # plays the Entra Connect server
NS_ROUTER = "hp-router"  # forwards between the two subnets, runs nftables
NS_DC = "hp-dc"  # Samba AD DC
NS_CLOUD = "hp-cloud"  # stand-ins for the Microsoft cloud: DNS, HTTPS/HTTP, AMQP, proxies
NAMESPACES = (NS_CLIENT, NS_ROUTER, NS_DC, NS_CLOUD)
# The client -> router -> DC path (what ``status()["namespaces"]`` reports, as before the cloud).
DC_PATH_NAMESPACES = (NS_CLIENT, NS_ROUTER, NS_DC)

# Interface names. Both ends of each veth pair are created directly inside the lab
# namespaces (``ip -n NS link add ... peer ... netns NS2``): nothing is ever created in,
# or moved through, the host's own namespace.
IF_CLIENT = "eth0"  # in hp-client
IF_DC = "eth0"  # in hp-dc
IF_ROUTER_CLIENT = "rt-client"  # in hp-router, facing hp-client
IF_ROUTER_DC = "rt-dc"  # in hp-router, facing hp-dc
IF_CLOUD = "eth0"  # in hp-cloud
IF_ROUTER_CLOUD = "rt-cloud"  # in hp-router, facing hp-cloud


@dataclass(frozen=True)
class Subnet:
    v4: str  # network in CIDR form
    v6: str
    router_v4: str
    router_v6: str
    host_v4: str
    host_v6: str


CLIENT_NET = Subnet(
    v4="198.18.1.0/24",
    v6="2001:db8:1::/64",
    router_v4="198.18.1.1",
    router_v6="2001:db8:1::1",
    host_v4="198.18.1.10",
    host_v6="2001:db8:1::10",
)
DC_NET = Subnet(
    v4="198.18.2.0/24",
    v6="2001:db8:2::/64",
    router_v4="198.18.2.1",
    router_v6="2001:db8:2::1",
    host_v4="198.18.2.10",
    host_v6="2001:db8:2::10",
)

CLOUD_NET = Subnet(
    v4="198.18.3.0/24",
    v6="2001:db8:3::/64",
    router_v4="198.18.3.1",
    router_v6="2001:db8:3::1",
    host_v4="198.18.3.10",
    host_v6="2001:db8:3::10",
)

CLIENT_ADDRESS = CLIENT_NET.host_v4
CLIENT_ADDRESS6 = CLIENT_NET.host_v6
DC_ADDRESS = DC_NET.host_v4
DC_ADDRESS6 = DC_NET.host_v6
ROUTER_CLIENT_ADDRESS = CLIENT_NET.router_v4
ROUTER_DC_ADDRESS = DC_NET.router_v4
ROUTER_CLOUD_ADDRESS = CLOUD_NET.router_v4

# --- the domain -------------------------------------------------------------------------------
REALM = "LAB.HYBRIDPORTS.TEST"
DNS_DOMAIN = "lab.hybridports.test"
NETBIOS_DOMAIN = "LAB"
DC_HOSTNAME = "dc01"
DC_NETBIOS_NAME = "DC01"
DC_FQDN = f"{DC_HOSTNAME}.{DNS_DOMAIN}"
BASE_DN = "DC=lab,DC=hybridports,DC=test"
ADMIN_USER = "Administrator"

# Samba's dynamic RPC range: small and known, inside Windows' 49152-65535.
RPC_DYNAMIC_RANGE = (49152, 49200)

# Ports the DC must be listening on (on DC_ADDRESS) before ``up`` returns.
DC_TCP_PORTS = (53, 88, 135, 389, 445, 464, 636, 3268, 3269)
DC_UDP_PORTS = (53, 88, 389, 464)

# --- the cloud side (hp-cloud) ---------------------------------------------------------------
# Every catalog name of the public and US Government clouds resolves (through the lab's
# dnsmasq) to CLOUD_ADDRESS / CLOUD_ADDRESS6, where nginx (80, 443) and an AMQP 1.0 peer
# (5671) answer. Two more addresses of hp-cloud carry the forward proxies.
CLOUD_ADDRESS = CLOUD_NET.host_v4  # web, AMQP and DNS (dnsmasq)
CLOUD_ADDRESS6 = CLOUD_NET.host_v6
CLOUD_DNS_ADDRESS = CLOUD_ADDRESS
PROXY_ADDRESS = "198.18.3.20"  # squid
PROXY_PORT = 3128  # no authentication
PROXY_AUTH_PORT = 3129  # Basic authentication
PROXY_USER = "hpproxy"
MITM_ADDRESS = "198.18.3.21"  # mitmproxy, regular (explicit proxy) mode, re-signs TLS
MITM_PORT = 8080
PROXY_ADDRESSES = (PROXY_ADDRESS, MITM_ADDRESS)
PROXY_PORTS = (PROXY_PORT, PROXY_AUTH_PORT, MITM_PORT)
CLOUD_CLOUDS = ("public", "usgov")  # catalog clouds whose names the lab DNS answers
CLOUD_CATALOG = Path(__file__).resolve().parent.parent / "src/hybridports/catalog/endpoints.yaml"
# An extra zone that is explicitly unresolvable (NXDOMAIN), for tests.
NX_ZONE = "nxtest.invalid"
# Names the proxy refuses with 403 (one test name and one real catalog name).
PROXY_DENIED = ("denied." + NX_ZONE, "www.office.com")
# A concrete Service Bus name (the one Microsoft's own writeback check uses).
AMQP_HOST = "ssprdedicatedsbprodscu.servicebus.windows.net"
AMQP_PORT = 5671
# The server certificate's CRL distribution point and CA Issuers URL: catalog CRL hosts, so a
# revocation check follows a planned flow (served by the lab's nginx on port 80).
CRL_URL = "http://crl3.digicert.com/hybridports-lab-intermediate.crl"
ROOT_CRL_URL = "http://crl3.digicert.com/hybridports-lab-root.crl"
CA_ISSUERS_URL = "http://cacerts.digicert.com/hybridports-lab-intermediate.crt"
# Ports hp-cloud must be listening on before ``up`` returns.
CLOUD_TCP_PORTS = {
    CLOUD_ADDRESS: (53, 80, 443, AMQP_PORT),
    PROXY_ADDRESS: (PROXY_PORT, PROXY_AUTH_PORT),
    MITM_ADDRESS: (MITM_PORT,),
}
CLOUD_TCP6_PORTS = (53, 80, 443, AMQP_PORT)  # on CLOUD_ADDRESS6
CLOUD_UDP_PORTS = {CLOUD_ADDRESS: (53,)}

# --- nftables -------------------------------------------------------------------------------
NFT_TABLE = "hp_lab"  # family inet, in hp-router only
NFT_CHAIN = "forward"

# --- state directory ----------------------------------------------------------------------------
# Everything the lab writes lives below this directory (samba's databases, its config,
# logs, pid files, the generated admin password, the TLS CA, the provisioning cache).
# It is on disk (not tmpfs) so that the provisioned-DC cache survives a reboot, and the
# filesystem must support extended attributes (samba's sysvol ACLs need them).
DEFAULT_STATE_DIR = Path("/var/tmp/hybridports-lab")


def state_dir() -> Path:
    return Path(os.environ.get("HP_LAB_STATE_DIR", str(DEFAULT_STATE_DIR)))


# --- Debian packages -------------------------------------------------------------------------
# Needed by ``up`` itself.
PACKAGES_LAB = (
    "iproute2",  # ip netns, ip link (veth), ss
    "util-linux",  # unshare, mount (private mount/UTS namespace for samba)
    "nftables",  # nft in hp-router
    "conntrack",  # flush hp-router's connection tracking when a scenario is loaded
    "openssl",  # the lab CA and the DC's LDAPS certificate
    "samba",  # samba (AD DC), samba-tool, smbd
    "samba-ad-provision",  # provisioning data (/usr/share/samba/setup); a Recommends of samba
    "samba-dsdb-modules",  # the AD database modules; a Recommends of samba
    "winbind",  # the AD DC starts winbindd and stops when it cannot
    "ldb-tools",  # ldbsearch etc., for looking inside the DC's database
    "smbclient",  # smbclient and rpcclient, for the checks
    # The cloud side (hp-cloud):
    "dnsmasq-base",  # the cloud DNS (the daemon only: no service, no /etc/dnsmasq.d)
    "nginx-light",  # HTTPS 443 and HTTP 80 (the CRL)
    "squid",  # forward proxies (3128 open, 3129 with Basic authentication)
    "mitmproxy",  # the TLS-intercepting proxy (mitmdump)
    "python3-qpid-proton",  # the AMQP 1.0 peer on 5671 (lab/amqp_peer.py)
    # The cloud PKI (lab/cloudpki.py) runs with the project's venv when there is one; these
    # make Debian's python3 a working fallback.
    "python3-cryptography",
    "python3-yaml",
)
# Extra client tools the lab's checks (tests/lab) use; ``Lab.ensure_tools()`` installs them.
PACKAGES_TOOLS = (
    "bind9-dnsutils",  # dig
    "ldap-utils",  # ldapsearch
    "krb5-user",  # kinit (installed without krb5-config, so no /etc/krb5.conf appears)
    "smbclient",
    "openssl",  # openssl s_client
    "curl",  # HTTPS, CRL and proxy checks
)
# System services (per package) that the packages above ship; they must not run on the host.
HOST_SERVICES = {
    "samba": ("samba-ad-dc", "smbd", "nmbd"),
    "winbind": ("winbind",),
    "nginx-light": ("nginx",),
    "squid": ("squid",),
}
