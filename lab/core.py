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
from .dc import DomainController
from .nsexec import ns_argv


class Lab:
    """The test lab: hp-client -- hp-router (nftables) -- hp-dc (Samba AD DC).

    Usage::

        with Lab() as lab:                 # up() ... down()
            lab.scenario("table1")
            lab.run("client", ["dig", "+short", "SRV", "_ldap._tcp.dc._msdcs." + lab.dns_domain])

    ``up()`` is idempotent (a healthy lab is reused, a broken or stale one is rebuilt) and
    ``down()`` works after a crash (stale namespaces, dead or orphaned samba processes).
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

    def __init__(self, state_dir: Path | str | None = None, *, install: bool = True) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else config.state_dir()
        self.install = install
        self.dc = DomainController(self.state_dir)
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

    scenarios = _scenarios.SCENARIOS

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
                pid = self.dc.start(timer)
                self._write_state({"samba_pid": pid, "since": time.time()})
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
        self.dc.stop()
        netns.delete_all()

    def _healthy(self) -> bool:
        if not netns.topology_ok():
            return False
        pid = self.dc.pid()
        if pid is None or not self.dc.template_ok():
            return False
        tcp4, udp4, _ = self.dc.listening()
        return set(config.DC_TCP_PORTS) <= tcp4 and set(config.DC_UDP_PORTS) <= udp4

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
        return _scenarios.SCENARIOS.get(name) if name else None

    # ------------------------------------------------------------------ running commands
    def command(self, ns: str, argv: Sequence[str]) -> list[str]:
        """argv that runs ``argv`` inside namespace ``ns`` ('client', 'dc', 'hp-router'...)."""
        return ns_argv(ns, argv, self.state_dir)

    def run(
        self,
        ns: str,
        argv: Sequence[str],
        *,
        timeout: float = 60,
        check: bool = False,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in namespace ``ns``; output captured as text."""
        return subprocess.run(
            self.command(ns, argv),
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
        up = (
            existing == list(config.NAMESPACES)
            and pid is not None
            and set(config.DC_TCP_PORTS) <= tcp4
            and set(config.DC_UDP_PORTS) <= udp4
        )
        meta = self.dc.meta()
        return {
            "up": up,
            "namespaces": existing,
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
            "last": self._read_state(),
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
