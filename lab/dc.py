"""The Samba AD DC in hp-dc: provisioning (cached), configuration, start, readiness, stop.

Layout below the state directory::

    cache/dc-template/       a freshly provisioned DC (samba-tool domain provision), with
                             the lab CA and the DC's LDAPS certificate in private/tls-lab/
    cache/dc-template.json   (0600) cache key, admin password, timings
    dc/                      the live copy the running DC uses (replaced at every start)
    dc/etc/smb.conf          written by the lab at every start (never /etc/samba/smb.conf)
    dc/run/                  seen by samba as /run/samba (pid files, sockets)
    dc/log/samba.log         samba's log
    krb5.conf, resolv.conf   for the lab's clients (KRB5_CONFIG, bind-mounted resolv.conf)
    client/smb.conf          for samba's client tools inside the lab namespaces
    lab-ca.pem               the CA that signed the DC's certificate (for LDAPS checks)
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import time
from pathlib import Path

from . import config, netns
from ._util import LabError, Timer, debug, log, read_json_object, run, write_private
from .nsexec import make_sandbox_dirs, ns_argv

CACHE_FORMAT = 5  # bump when the provisioning recipe changes


class DomainController:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.cache = state / "cache"
        self.template = self.cache / "dc-template"
        self.meta_path = self.cache / "dc-template.json"
        self.live = state / "dc"
        self.conf = self.live / "etc" / "smb.conf"
        self.run_dir = self.live / "run"
        self.log_dir = self.live / "log"
        self.log_file = self.log_dir / "samba.log"
        self.pid_file = self.run_dir / "samba.pid"
        self.ca_cert = state / "lab-ca.pem"
        self.krb5_conf = state / "krb5.conf"
        self.resolv_conf = state / "resolv.conf"
        self.client_conf = state / "client" / "smb.conf"

    # ------------------------------------------------------------------ cache / provisioning
    @staticmethod
    def samba_version() -> str:
        return run(["samba", "-V"]).stdout.strip()

    def cache_key(self) -> str:
        facts = {
            "format": CACHE_FORMAT,
            "samba": self.samba_version(),
            "realm": config.REALM,
            "domain": config.NETBIOS_DOMAIN,
            "host": config.DC_HOSTNAME,
            "ip": config.DC_ADDRESS,
            "ip6": config.DC_ADDRESS6,
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]

    def meta(self) -> dict[str, object]:
        return read_json_object(self.meta_path)

    def admin_password(self) -> str:
        password = self.meta().get("admin_password")
        if not isinstance(password, str):
            raise LabError("the lab DC has not been provisioned yet (run: python3 -m lab up)")
        return password

    def template_ok(self) -> bool:
        meta = self.meta()
        return (
            meta.get("key") == self.cache_key()
            and (self.template / "private" / "sam.ldb").exists()
            and (self.template / "private" / "tls-lab" / "dc.key").exists()
        )

    def ensure_template(self, timer: Timer) -> bool:
        """Make sure a provisioned template exists; return True when it came from the cache."""
        if self.template_ok():
            return True
        with timer.step("provision"):
            self._provision()
        return False

    def _provision(self) -> None:
        log("provisioning the Samba AD DC (first run; cached afterwards)")
        tmp = self.cache / "dc-template.new"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(self.template, ignore_errors=True)
        self.meta_path.unlink(missing_ok=True)
        self.cache.mkdir(parents=True, exist_ok=True)
        os.chmod(self.cache, 0o700)
        # Random, meets AD complexity (upper, lower, digit, symbol), never reused.
        password = "Hp9-" + secrets.token_urlsafe(18) + "x"
        started = time.monotonic()
        make_sandbox_dirs(config.NS_DC, self.state)
        argv = [
            "samba-tool", "domain", "provision",
            f"--targetdir={tmp}",
            f"--realm={config.REALM}",
            f"--domain={config.NETBIOS_DOMAIN}",
            f"--host-name={config.DC_HOSTNAME}",
            f"--host-ip={config.DC_ADDRESS}",
            f"--host-ip6={config.DC_ADDRESS6}",
            "--server-role=dc",
            "--dns-backend=SAMBA_INTERNAL",
            f"--adminpass={password}",
            f"--option=interfaces=lo {config.IF_DC}",
            "--option=bind interfaces only=yes",
        ]  # fmt: skip
        proc = run(ns_argv(config.NS_DC, argv, self.state), check=False, timeout=600)
        if proc.returncode != 0:
            raise LabError(f"samba-tool domain provision failed:\n{proc.stderr[-4000:]}")
        (tmp / "provision.log").write_text(proc.stdout + proc.stderr)
        # The cached DC may be reused for months: the default 42-day maximum password age
        # would otherwise expire the Administrator password under the tests' feet.
        expiry = [
            "samba-tool", "user", "setexpiry", config.ADMIN_USER, "--noexpiry",
            "-s", str(tmp / "etc" / "smb.conf"),
        ]  # fmt: skip
        run(ns_argv(config.NS_DC, expiry, self.state), timeout=120)
        self._make_certificates(tmp / "private" / "tls-lab")
        seconds = round(time.monotonic() - started, 2)
        os.replace(tmp, self.template)
        write_private(
            self.meta_path,
            json.dumps(
                {
                    "key": self.cache_key(),
                    "samba": self.samba_version(),
                    "admin_user": config.ADMIN_USER,
                    "admin_password": password,
                    "provisioned_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "provision_seconds": seconds,
                },
                indent=2,
            ),
        )

    @staticmethod
    def _make_certificates(directory: Path) -> None:
        """A lab CA and a server certificate for the DC (SAN = FQDN + addresses)."""
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        ca_key, ca_pem = directory / "ca.key", directory / "ca.pem"
        key, csr, pem = directory / "dc.key", directory / "dc.csr", directory / "dc.pem"
        ext = directory / "dc.ext"
        run([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-days", "3650", "-keyout", str(ca_key), "-out", str(ca_pem),
            "-subj", "/O=hybridports lab/CN=hybridports lab CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])  # fmt: skip
        run([
            "openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-keyout", str(key), "-out", str(csr),
            "-subj", f"/O=hybridports lab/CN={config.DC_FQDN}",
        ])  # fmt: skip
        ext.write_text(
            "basicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
            f"subjectAltName=DNS:{config.DC_FQDN},DNS:{config.DNS_DOMAIN},"
            f"DNS:{config.DC_NETBIOS_NAME},IP:{config.DC_ADDRESS},IP:{config.DC_ADDRESS6}\n"
        )
        run([
            "openssl", "x509", "-req", "-sha256", "-days", "825", "-in", str(csr),
            "-CA", str(ca_pem), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(pem), "-extfile", str(ext),
        ])  # fmt: skip
        for path in (ca_key, key):
            os.chmod(path, 0o600)

    # ------------------------------------------------------------------ configuration files
    def smb_conf(self) -> str:
        live = self.live
        lo, hi = config.RPC_DYNAMIC_RANGE
        tls = live / "private" / "tls-lab"
        return f"""# Written by the hybridports lab (lab/dc.py) at every start.
[global]
\tnetbios name = {config.DC_NETBIOS_NAME}
\tworkgroup = {config.NETBIOS_DOMAIN}
\trealm = {config.REALM}
\tserver role = active directory domain controller
\t# NetBIOS name service and WINS replication are not part of the lab.
\tserver services = -nbt -wrepl
\tinterfaces = lo {config.IF_DC}
\tbind interfaces only = yes
\trpc server dynamic port range = {lo}-{hi}
\tprefork children = 2
\t# No forwarder: names outside the AD zones get an answer from this server only.
\tdns forwarder =
\ttls enabled = yes
\ttls keyfile = {tls / "dc.key"}
\ttls certfile = {tls / "dc.pem"}
\ttls cafile = {tls / "ca.pem"}
\tprivate dir = {live / "private"}
\tbinddns dir = {live / "bind-dns"}
\tstate directory = {live / "state"}
\tcache directory = {live / "cache"}
\tlock directory = {live / "lock"}
\t# /run/samba is {self.run_dir} inside the DC's private mount namespace.
\tpid directory = /run/samba
\tncalrpc dir = /run/samba/ncalrpc
\twinbindd socket directory = /run/samba/winbindd
\tntp signd socket directory = /run/samba/ntp_signd
\tlog file = {self.log_file}
\tlogging = file
\tmax log size = 10000
\tload printers = no
\tprinting = bsd
\tprintcap name = /dev/null
\tdisable spoolss = yes
\tusershare path =

[sysvol]
\tpath = {live / "state" / "sysvol"}
\tread only = No

[netlogon]
\tpath = {live / "state" / "sysvol" / config.DNS_DOMAIN / "scripts"}
\tread only = No
"""

    def write_client_files(self) -> None:
        self.resolv_conf.write_text(
            f"# hybridports lab\nnameserver {config.DC_ADDRESS}\nsearch {config.DNS_DOMAIN}\n"
        )
        r = config.REALM
        self.krb5_conf.write_text(
            "[libdefaults]\n"
            f"\tdefault_realm = {r}\n"
            "\tdns_lookup_realm = false\n"
            "\tdns_lookup_kdc = false\n"
            "\trdns = false\n"
            "[realms]\n"
            f"\t{r} = {{\n"
            f"\t\tkdc = {config.DC_ADDRESS}\n"
            f"\t\tadmin_server = {config.DC_ADDRESS}\n"
            f"\t\tkpasswd_server = {config.DC_ADDRESS}\n"
            "\t}\n"
            "[domain_realm]\n"
            f"\t.{config.DNS_DOMAIN} = {r}\n"
            f"\t{config.DNS_DOMAIN} = {r}\n"
        )
        client = self.client_conf.parent
        for sub in ("lock", "state", "cache", "private", "run"):
            (client / sub).mkdir(parents=True, exist_ok=True)
        make_sandbox_dirs(config.NS_CLIENT, self.state)
        self.client_conf.write_text(
            "# samba client tools inside the lab namespaces (bind-mounted on /etc/samba/smb.conf)\n"
            "[global]\n"
            f"\tworkgroup = {config.NETBIOS_DOMAIN}\n"
            f"\trealm = {r}\n"
            f"\tlock directory = {client / 'lock'}\n"
            f"\tstate directory = {client / 'state'}\n"
            f"\tcache directory = {client / 'cache'}\n"
            f"\tprivate dir = {client / 'private'}\n"
            f"\tpid directory = {client / 'run'}\n"
            f"\tncalrpc dir = {client / 'run' / 'ncalrpc'}\n"
            "\tlogging = stderr\n"
        )

    # ------------------------------------------------------------------ run
    def start(self, timer: Timer, timeout: float = 90.0) -> int:
        """Copy the template to the live dir, start samba in hp-dc, wait until it listens."""
        self.stop()
        with timer.step("dc_copy"):
            shutil.rmtree(self.live, ignore_errors=True)
            # cp -a keeps the security.NTACL extended attributes of sysvol.
            run(["cp", "-a", str(self.template), str(self.live)])
            for sub in (self.run_dir, self.log_dir, self.live / "lock", self.live / "cache"):
                sub.mkdir(parents=True, exist_ok=True)
            make_sandbox_dirs(config.NS_DC, self.state)
            self.conf.parent.mkdir(parents=True, exist_ok=True)
            self.conf.write_text(self.smb_conf())
            shutil.copyfile(self.live / "private" / "tls-lab" / "ca.pem", self.ca_cert)
            self.write_client_files()
        with timer.step("dc_start"):
            argv = ["samba", "-s", str(self.conf), "-D"]
            run(ns_argv(config.NS_DC, argv, self.state), timeout=60)
            pid = self._wait_pid()
            self.wait_ready(pid, timeout)
        return pid

    def _wait_pid(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.pid()
            if pid is not None:
                return pid
            time.sleep(0.1)
        raise LabError(f"samba wrote no pid file {self.pid_file}\n{self.log_tail()}")

    def pid(self) -> int | None:
        """pid of the running samba master process in hp-dc, or None."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return None
        return pid if comm == "samba" and netns.pid_in(pid, config.NS_DC) else None

    def listening(self) -> tuple[set[int], set[int], set[int]]:
        """(tcp ports, udp ports) bound on the DC's IPv4 address, tcp ports on its IPv6."""
        proc = run(["ip", "netns", "exec", config.NS_DC, "ss", "-Hlntu"], check=False)
        tcp4: set[int] = set()
        udp4: set[int] = set()
        tcp6: set[int] = set()
        for line in proc.stdout.splitlines():
            fields = line.split()
            if len(fields) < 5:
                continue
            address, _, port = fields[4].rpartition(":")
            if not port.isdigit():
                continue
            if address == config.DC_ADDRESS:
                (tcp4 if fields[0] == "tcp" else udp4).add(int(port))
            elif address == f"[{config.DC_ADDRESS6}]" and fields[0] == "tcp":
                tcp6.add(int(port))
        return tcp4, udp4, tcp6

    def wait_ready(self, pid: int, timeout: float) -> None:
        want_tcp, want_udp = set(config.DC_TCP_PORTS), set(config.DC_UDP_PORTS)
        deadline = time.monotonic() + timeout
        missing: tuple[set[int], set[int], set[int]] = (want_tcp, want_udp, {389})
        while time.monotonic() < deadline:
            if self.pid() != pid:
                raise LabError(f"samba exited during start-up\n{self.log_tail()}")
            tcp4, udp4, tcp6 = self.listening()
            missing = (want_tcp - tcp4, want_udp - udp4, {389} - tcp6)
            if not any(missing):
                debug(f"samba ready: tcp {sorted(tcp4)} udp {sorted(udp4)}")
                return
            time.sleep(0.2)
        raise LabError(
            f"samba not listening after {timeout}s (missing tcp {sorted(missing[0])}, "
            f"udp {sorted(missing[1])}, tcp6 {sorted(missing[2])})\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop samba (its process group, then anything left in hp-dc). Works on stale pids."""
        pid = self.pid()
        if pid is not None:
            try:
                # samba -D makes itself a session (and process group) leader.
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGTERM)
                else:
                    os.kill(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.pid() == pid:
                time.sleep(0.1)
        if netns.exists(config.NS_DC):
            netns.kill_all(config.NS_DC)
        self.pid_file.unlink(missing_ok=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no samba log)"
        return "\n".join(text.splitlines()[-lines:])
