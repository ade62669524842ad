"""The ``Lab`` object: up, down, status, scenarios, running commands in the namespaces."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from . import config, firewall, netns, packages
from . import scenarios as _scenarios
from ._util import LabError, LabUnavailable, SessionLock, Timer, locked, log
from .cloud import Cloud
from .dc import DomainController
from .nsexec import ns_argv


class Lab:
    """The test lab: hp-client -- hp-router (nftables) -- hp-dc (Samba AD DC), and
    hp-router -- hp-cloud (stand-ins for the Microsoft cloud: DNS, HTTPS, AMQP, proxies).

    Usage::

        with Lab() as lab:                 # up() ... down()
            lab.scenario("table1")
            lab.run("client", ["dig", "+short", "SRV", "_ldap._tcp.dc._msdcs." + lab.dns_domain])
            lab.run("client", ["curl", "--cacert", str(lab.public_ca),
                               "https://login.microsoftonline.com/"], resolver="cloud")

    ``up()`` is idempotent (a healthy lab is reused, a broken or stale one is rebuilt) and
    ``down()`` works after a crash (stale namespaces, dead or orphaned processes).
    """

    realm = config.REALM
    dns_domain = config.DNS_DOMAIN
    netbios_domain = config.NETBIOS_DOMAIN
    base_dn = config.BASE_DN
    dc_hostname = config.DC_HOSTNAME
    dc_fqdn = config.DC_FQDN
    dc_address = config.DC_ADDRESS
    dc_address6 = config.DC_ADDRESS6
    client_address = config.CLIENT_ADDRESS
    client_address6 = config.CLIENT_ADDRESS6
    router_client_address = config.ROUTER_CLIENT_ADDRESS
    router_dc_address = config.ROUTER_DC_ADDRESS
    rpc_dynamic_range = config.RPC_DYNAMIC_RANGE
    admin_user = config.ADMIN_USER
    namespaces = config.NAMESPACES
    client_ns = config.NS_CLIENT
    router_ns = config.NS_ROUTER
    dc_ns = config.NS_DC
    cloud_ns = config.NS_CLOUD
    # The cloud side (hp-cloud).
    cloud_address = config.CLOUD_ADDRESS  # every catalog name resolves here (web, AMQP)
    cloud_address6 = config.CLOUD_ADDRESS6
    dns_server = config.CLOUD_DNS_ADDRESS  # the cloud's dnsmasq
    router_cloud_address = config.ROUTER_CLOUD_ADDRESS
    proxy_address = config.PROXY_ADDRESS
    proxy_port = config.PROXY_PORT
    proxy_auth_port = config.PROXY_AUTH_PORT
    proxy_user = config.PROXY_USER
    proxy_url = f"http://{config.PROXY_ADDRESS}:{config.PROXY_PORT}"  # no authentication
    proxy_denied = config.PROXY_DENIED  # the proxies answer these names with 403
    mitm_address = config.MITM_ADDRESS
    mitm_port = config.MITM_PORT
    mitm_url = f"http://{config.MITM_ADDRESS}:{config.MITM_PORT}"  # TLS-intercepting
    amqp_host = config.AMQP_HOST
    amqp_port = config.AMQP_PORT
    nx_zone = config.NX_ZONE  # never resolves
    crl_url = config.CRL_URL  # CDP of the server certificate (served on port 80)
    ca_issuers_url = config.CA_ISSUERS_URL

    def __init__(self, state_dir: Path | str | None = None, *, install: bool = True) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else config.state_dir()
        self.install = install
        self.dc = DomainController(self.state_dir)
        self.cloud = Cloud(self.state_dir)
        self.timings: dict[str, float] = {}
        self._lock = self.state_dir / "lock"
        self._state_file = self.state_dir / "lab.json"
        self.session = SessionLock(self.state_dir / "session.lock")

    # ------------------------------------------------------------------ facts
    @property
    def admin_password(self) -> str:
        """The Administrator password generated at provisioning (kept in the state dir)."""
        return self.dc.admin_password()

    @property
    def ca_cert(self) -> Path:
        """PEM of the lab CA that signed the DC's LDAPS certificate."""
        return self.dc.ca_cert

    @property
    def krb5_conf(self) -> Path:
        return self.dc.krb5_conf

    @property
    def samba_log(self) -> Path:
        return self.dc.log_file

    @property
    def public_ca(self) -> Path:
        """PEM of the lab "public" root (root -> intermediate -> the cloud's server cert)."""
        return self.cloud.public_ca

    @property
    def mitm_ca(self) -> Path:
        """PEM of mitmproxy's CA: the issuer of every certificate seen through ``mitm_url``."""
        return self.cloud.mitm_ca

    @property
    def proxy_password(self) -> str:
        """The password of ``proxy_user`` on the authenticating proxy (kept in the state dir)."""
        return self.cloud.proxy_password()

    @property
    def proxy_auth_url(self) -> str:
        """http://hpproxy:<password>@198.18.3.20:3129 (Basic authentication)."""
        return (
            f"http://{config.PROXY_USER}:{self.proxy_password}"
            f"@{config.PROXY_ADDRESS}:{config.PROXY_AUTH_PORT}"
        )

    def cloud_names(self) -> dict[str, list[str]]:
        """The names the cloud DNS answers: {"concrete", "wildcards", "apexes", ...}."""
        return self.cloud.names()

    scenarios = _scenarios.ALL_SCENARIOS

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why the lab cannot run on this machine (None if it can). Cheap; changes nothing."""
        return netns.unavailable_reason()

    # ------------------------------------------------------------------ lifecycle
    def up(self, scenario: str = _scenarios.DEFAULT_SCENARIO) -> Lab:
        reason = self.unavailable_reason()
        if reason:
            raise LabUnavailable(reason)
        wanted = _scenarios.get(scenario)
        timer = Timer()
        total = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)  # the admin password and the DC's keys live here
        with locked(self._lock):
            if self.install:
                with timer.step("packages"):
                    packages.ensure(config.PACKAGES_LAB)
            elif packages.missing(config.PACKAGES_LAB):
                missing = packages.missing(config.PACKAGES_LAB)
                raise LabUnavailable("missing Debian packages: " + " ".join(missing))
            if self._healthy():
                log("lab already up; reusing it")
                reused = True
            else:
                reused = False
                with timer.step("cleanup"):
                    self._teardown()
                with timer.step("netns"):
                    netns.create_all()
                    firewall.apply(wanted)
                self.dc.write_client_files()
                cached = self.dc.ensure_template(timer)
                timer.times["dc_cached"] = 1.0 if cached else 0.0
                cloud_cached = self.cloud.ensure_pki(timer)
                timer.times["cloud_cached"] = 1.0 if cloud_cached else 0.0
                # The cloud's services start while samba does; both are waited for.
                with timer.step("cloud_config"):
                    self.cloud.prepare()
                with timer.step("cloud_launch"):
                    self.cloud.launch()
                pid = self.dc.start(timer)
                with timer.step("cloud_ready"):
                    cloud_pids = self.cloud.wait_ready()
                self._write_state(
                    {"samba_pid": pid, "cloud_pids": cloud_pids, "since": time.time()}
                )
            with timer.step("scenario"):
                firewall.apply(wanted)
            self._write_state({"scenario": wanted.name})
        timer.times["total"] = round(time.monotonic() - total, 3)
        timer.times["reused"] = 1.0 if reused else 0.0
        self.timings = timer.times
        self._write_state({"timings": self.timings})
        return self

    def down(self, purge: bool = False) -> None:
        """Stop samba, delete the namespaces. ``purge`` also deletes the state dir and cache."""
        reason = self.unavailable_reason()
        if reason is not None:
            if not netns.existing():
                return  # nothing of the lab's here, and nothing we could do anyway
            raise LabUnavailable(reason)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with locked(self._lock):
            self._teardown()
            self._state_file.unlink(missing_ok=True)
        if purge:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def _teardown(self) -> None:
        self.cloud.stop()
        self.dc.stop()
        netns.delete_all()

    def _healthy(self) -> bool:
        if not netns.topology_ok():
            return False
        pid = self.dc.pid()
        if pid is None or not self.dc.template_ok():
            return False
        tcp4, udp4, _ = self.dc.listening()
        if not (set(config.DC_TCP_PORTS) <= tcp4 and set(config.DC_UDP_PORTS) <= udp4):
            return False
        return self.cloud.healthy()

    def __enter__(self) -> Lab:
        """Take the lab for this process (waiting for another holder to finish), bring it up."""
        self.session.acquire()
        try:
            return self.up()
        except BaseException:
            self.session.release()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.down()
        finally:
            self.session.release()

    def in_use_by(self) -> int | None:
        """pid of another process holding the lab (``with Lab():``), or None."""
        return self.session.holder()

    # ------------------------------------------------------------------ scenarios
    def scenario(self, name: str) -> _scenarios.Scenario:
        """Load scenario ``name`` into hp-router (atomic replacement); return its data."""
        chosen = _scenarios.get(name)
        if not netns.exists(config.NS_ROUTER):
            raise LabError("the lab is not up (run: python3 -m lab up)")
        with locked(self._lock):
            firewall.apply(chosen)
            self._write_state({"scenario": chosen.name})
        return chosen

    def current_scenario(self) -> _scenarios.Scenario | None:
        name = firewall.current()
        return _scenarios.ALL_SCENARIOS.get(name) if name else None

    # ------------------------------------------------------------------ running commands
    def command(self, ns: str, argv: Sequence[str], resolver: str | None = None) -> list[str]:
        """argv that runs ``argv`` inside namespace ``ns`` ('client', 'dc', 'hp-router'...).

        ``resolver``: the DNS server /etc/resolv.conf names for it: "dc" (the default, as on
        a domain member; "cloud" in hp-cloud) or "cloud" (the cloud's dnsmasq, which answers
        the catalog's Microsoft names).
        """
        return ns_argv(ns, argv, self.state_dir, resolver)

    def run(
        self,
        ns: str,
        argv: Sequence[str],
        *,
        timeout: float = 60,
        check: bool = False,
        input: str | None = None,
        resolver: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in namespace ``ns``; output captured as text."""
        return subprocess.run(
            self.command(ns, argv, resolver),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            input=input,
        )

    def ensure_tools(self) -> list[str]:
        """Install the client tools the lab checks use (dig, ldapsearch, kinit, ...)."""
        return packages.ensure(config.PACKAGES_TOOLS)

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        existing = netns.existing()
        pid = self.dc.pid() if netns.exists(config.NS_DC) else None
        tcp4: set[int] = set()
        udp4: set[int] = set()
        if pid is not None:
            tcp4, udp4, _ = self.dc.listening()
        current = firewall.current() if netns.exists(config.NS_ROUTER) else None
        cloud = self._cloud_status()
        up = (
            existing == list(config.NAMESPACES)
            and pid is not None
            and set(config.DC_TCP_PORTS) <= tcp4
            and set(config.DC_UDP_PORTS) <= udp4
            and cloud["up"]
        )
        meta = self.dc.meta()
        return {
            "up": up,
            # The client -> router -> DC path, as before; hp-cloud is under "cloud".
            "namespaces": [ns for ns in existing if ns in config.DC_PATH_NAMESPACES],
            "samba_pid": pid,
            "dc_tcp_ports": sorted(tcp4),
            "dc_udp_ports": sorted(udp4),
            "scenario": current,
            "state_dir": str(self.state_dir),
            "dc_cached": self.dc.template.exists(),
            "provisioned_at": meta.get("provisioned_at"),
            "provision_seconds": meta.get("provision_seconds"),
            "realm": self.realm,
            "dc": {"fqdn": self.dc_fqdn, "ipv4": self.dc_address, "ipv6": self.dc_address6},
            "client": {"ipv4": self.client_address, "ipv6": self.client_address6},
            "cloud": cloud,
            "last": self._read_state(),
        }

    def _cloud_status(self) -> dict[str, Any]:
        exists = netns.exists(config.NS_CLOUD)
        pids: dict[str, int | None] = {}
        missing_tcp: list[str] = []
        missing_udp: list[str] = []
        if exists:
            _dead, tcp, udp = self.cloud.missing()
            pids = self.cloud.pids()
            missing_tcp = [f"{a}:{p}" for a, p in sorted(tcp)]
            missing_udp = [f"{a}:{p}" for a, p in sorted(udp)]
        up = exists and bool(pids) and None not in pids.values() and not missing_tcp
        return {
            "up": up and not missing_udp,
            "namespace": config.NS_CLOUD if exists else None,
            "pids": pids,
            "missing_tcp": missing_tcp,
            "missing_udp": missing_udp,
            "pki_cached": self.cloud.pki_ok(),
            "address": self.cloud_address,
            "address6": self.cloud_address6,
            "dns_server": self.dns_server,
            "proxy_url": self.proxy_url,
            "proxy_auth_port": self.proxy_auth_port,
            "mitm_url": self.mitm_url,
            "amqp_host": self.amqp_host,
            "public_ca": str(self.public_ca),
            "mitm_ca": str(self.mitm_ca),
        }

    def _read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_state(self, update: dict[str, Any]) -> None:
        data = self._read_state()
        data.update(update)
        self._state_file.write_text(json.dumps(data, indent=2, sort_keys=True))
