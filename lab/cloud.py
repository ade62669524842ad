"""The Microsoft-cloud side of the lab, in hp-cloud: real services from Debian packages.

* dnsmasq (``dnsmasq-base``) on CLOUD_ADDRESS(6):53 udp/tcp: every catalog name of the
  public and US Government clouds (src/hybridports/catalog/endpoints.yaml) -> the cloud
  address (A and AAAA); ``*.x.y`` answers x.y and any name under it; everything else is
  NXDOMAIN (``nxtest.invalid`` explicitly so). No upstream, no DHCP.
* nginx (``nginx-light``) on 80 and 443: 443 answers every request with 200 text, using a
  certificate for every name (root -> intermediate -> server, like Microsoft's DigiCert
  chains); 80 serves the intermediate's CRL at its CRL distribution point (a catalog CRL
  host), the root's CRL, the intermediate at the CA Issuers URL, and 200 text otherwise.
* an AMQP 1.0 peer (Apache Qpid Proton, ``python3-qpid-proton``, lab/amqp_peer.py) on 5671,
  TLS first, with the same certificate.
* squid (``squid``) on PROXY_ADDRESS: 3128 without authentication, 3129 with Basic
  authentication (user ``hpproxy``, random password). CONNECT to 443 and 5671, plain HTTP
  to 80; PROXY_DENIED names get 403.
* mitmproxy (``mitmproxy``, mitmdump) on MITM_ADDRESS:8080, regular (explicit proxy) mode,
  re-signing every TLS connection with its own CA (``mitm_ca``); it trusts the lab's public
  root upstream.

Keys, certificates and CRLs are made with ``cryptography`` (lab/cloudpki.py, run by the
project's venv Python) and cached in ``<state>/cache/cloud-pki/`` with the catalog's hash as
the key; the CRLs are re-signed when fewer than CRL_REFRESH seconds of validity remain.

Layout below the state directory (``cloud/`` is /run/hp-cloud inside hp-cloud, see
lab/nsexec.py)::

    cache/cloud-pki/          the PKI (see cloudpki.py) and names.json
    cache/cloud.json          (0600) cache key, the proxy password, timings
    cloud/                    replaced at every start
    cloud/etc/                dnsmasq.conf, nginx.conf, squid.conf
    cloud/pki/                what the services use (server chain and key, roots)
    cloud/www/                what nginx serves on port 80 (the CRLs, the intermediate)
    cloud/squid/              squid's own (owned by 'proxy'): htpasswd, logs
    cloud/mitm/               mitmproxy's confdir (its CA)
    cloud/run/NAME.pid        one pid file per service
    cloud/log/NAME.log        each service's stdout/stderr (nginx/squid: their own logs too)
    cloud/public-ca.pem       the lab public root (``lab.public_ca``)
    cloud/mitm-ca.pem         mitmproxy's CA certificate (``lab.mitm_ca``)
    cloud/resolv.conf         nameserver = the cloud dnsmasq (hp-cloud's /etc/resolv.conf)
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from . import config, netns
from ._util import LabError, LabUnavailable, Timer, debug, log, read_json_object, run, write_private
from .nsexec import CLOUD_RUN, ns_argv

PKI_FORMAT = 1  # bump when cloudpki.py's output changes
CRL_DAYS = 7
CRL_REFRESH = 24 * 3600  # re-sign the CRLs when less than this is left
SERVER_MIN_LEFT = 14 * 24 * 3600  # remake the PKI when the server certificate is this close
HERE = Path(__file__).resolve().parent
PKI_SCRIPT = HERE / "cloudpki.py"
AMQP_SCRIPT = HERE / "amqp_peer.py"
DEBIAN_PYTHON = "/usr/bin/python3"  # python3-qpid-proton lives in Debian's Python
PKI_FILES = (
    "names.json", "pki.json", "public-root.pem", "intermediate.pem", "intermediate.crt",
    "server.pem", "server.key", "server-chain.pem", "intermediate.crl", "root.crl",
    "mitm-ca.pem", "mitm-ca-cert.pem", "public-root.key", "intermediate.key",
)  # fmt: skip


@dataclass(frozen=True)
class Service:
    name: str
    marker: str  # a word of its command line, to tell it from an unrelated process
    stop_signal: int = signal.SIGTERM


SERVICES = (
    Service("dnsmasq", "dnsmasq"),
    Service("nginx", "nginx"),
    Service("amqp", "amqp_peer.py"),
    # squid takes 1.5-2.5 s to exit on TERM/INT (shutdown_lifetime and more); it keeps no
    # state worth a clean shutdown here.
    Service("squid", "squid", signal.SIGKILL),
    Service("mitmproxy", "mitmdump"),
)


def _inside(path: Path, live: Path) -> str:
    """``path`` (below the live dir) as the services see it inside hp-cloud."""
    return f"{CLOUD_RUN}/{path.relative_to(live)}"


class Cloud:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.cache = state / "cache" / "cloud-pki"
        self.meta_path = state / "cache" / "cloud.json"
        self.live = state / "cloud"
        self.etc = self.live / "etc"
        self.pki = self.live / "pki"
        self.www = self.live / "www"
        self.squid_dir = self.live / "squid"
        self.mitm_dir = self.live / "mitm"
        self.run_dir = self.live / "run"
        self.log_dir = self.live / "log"
        self.public_ca = self.live / "public-ca.pem"
        self.mitm_ca = self.live / "mitm-ca.pem"
        self.resolv_conf = self.live / "resolv.conf"

    def _in(self, path: Path) -> str:
        """``path`` (below the live dir) as the services see it inside hp-cloud."""
        return _inside(path, self.live)

    # ------------------------------------------------------------------ facts
    def meta(self) -> dict[str, object]:
        return read_json_object(self.meta_path)

    def proxy_password(self) -> str:
        password = self.meta().get("proxy_password")
        if not isinstance(password, str):
            raise LabError("the lab cloud has not been set up yet (run: python3 -m lab up)")
        return password

    def names(self) -> dict[str, list[str]]:
        """The names the lab DNS answers: concrete, wildcards (``*.x.y``), apexes."""
        try:
            data = json.loads((self.cache / "names.json").read_text())
        except (OSError, ValueError) as exc:
            raise LabError("the lab cloud is not set up yet (run: python3 -m lab up)") from exc
        return data  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ PKI (cached)
    def cache_key(self) -> str:
        try:
            catalog = hashlib.sha256(config.CLOUD_CATALOG.read_bytes()).hexdigest()
        except OSError as exc:
            raise LabUnavailable(f"no endpoint catalog at {config.CLOUD_CATALOG}") from exc
        facts = {
            "format": PKI_FORMAT,
            "catalog": catalog,
            "script": hashlib.sha256(PKI_SCRIPT.read_bytes()).hexdigest(),
            "clouds": config.CLOUD_CLOUDS,
            "urls": [config.CRL_URL, config.ROOT_CRL_URL, config.CA_ISSUERS_URL],
            "ip": [config.CLOUD_ADDRESS, config.CLOUD_ADDRESS6],
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]

    def _pki_facts(self) -> dict[str, int]:
        try:
            data = json.loads((self.cache / "pki.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def pki_ok(self) -> bool:
        if self.meta().get("key") != self.cache_key():
            return False
        if not all((self.cache / name).exists() for name in PKI_FILES):
            return False
        return self._pki_facts().get("server_not_after", 0) > time.time() + SERVER_MIN_LEFT

    def ensure_pki(self, timer: Timer) -> bool:
        """Make sure the PKI cache is valid and its CRLs fresh; True when it was cached."""
        cached = self.pki_ok()
        if not cached:
            with timer.step("cloud_pki"):
                self._build_pki()
        if self._pki_facts().get("crl_next_update", 0) < time.time() + CRL_REFRESH:
            with timer.step("cloud_crl"):
                self._helper(["crl", str(self.cache), "--days", str(CRL_DAYS)])
        return cached

    def _build_pki(self) -> None:
        log("making the cloud side's certificates and CRLs (first run; cached afterwards)")
        started = time.monotonic()
        tmp = self.cache.with_name("cloud-pki.new")
        shutil.rmtree(tmp, ignore_errors=True)
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.cache.parent, 0o700)
        self._helper([
            "build", str(config.CLOUD_CATALOG), str(tmp),
            "--clouds", ",".join(config.CLOUD_CLOUDS),
            "--crl-url", config.CRL_URL, "--root-crl-url", config.ROOT_CRL_URL,
            "--ca-issuers-url", config.CA_ISSUERS_URL,
            "--ip", config.CLOUD_ADDRESS, "--ip6", config.CLOUD_ADDRESS6,
            "--crl-days", str(CRL_DAYS),
        ])  # fmt: skip
        os.chmod(tmp, 0o700)
        shutil.rmtree(self.cache, ignore_errors=True)
        os.replace(tmp, self.cache)
        meta = self.meta()
        password = meta.get("proxy_password")
        if not isinstance(password, str):
            password = secrets.token_urlsafe(18)  # URL-safe: it goes into proxy URLs
        write_private(
            self.meta_path,
            json.dumps(
                {
                    "key": self.cache_key(),
                    "proxy_user": config.PROXY_USER,
                    "proxy_password": password,
                    "made_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "pki_seconds": round(time.monotonic() - started, 2),
                },
                indent=2,
            ),
        )

    def _helper(self, args: list[str]) -> None:
        python = pki_python()
        proc = run([python, str(PKI_SCRIPT), *args], check=False, timeout=300)
        if proc.returncode != 0:
            raise LabError(f"cloudpki.py {args[0]} failed:\n{proc.stderr[-3000:]}")

    # ------------------------------------------------------------------ configuration
    def prepare(self) -> None:
        """Rebuild the live directory: PKI copies, configs, htpasswd, resolv.conf."""
        shutil.rmtree(self.live, ignore_errors=True)
        for directory in (self.etc, self.pki, self.www, self.squid_dir, self.mitm_dir,
                          self.run_dir, self.log_dir, self.live / "nginx"):  # fmt: skip
            directory.mkdir(parents=True, exist_ok=True)
        # Unprivileged workers (nginx: www-data, squid: proxy) reach their files through
        # the /run/hp-cloud bind mount; the state dir above stays 0700.
        for directory in (self.live, self.etc, self.www, self.pki, self.run_dir, self.log_dir):
            os.chmod(directory, 0o755)
        os.chmod(self.mitm_dir, 0o700)
        for name in ("server-chain.pem", "server.key", "public-root.pem", "intermediate.pem"):
            shutil.copyfile(self.cache / name, self.pki / name)
        os.chmod(self.pki / "server.key", 0o600)
        shutil.copyfile(self.cache / "public-root.pem", self.public_ca)
        shutil.copyfile(self.cache / "mitm-ca-cert.pem", self.mitm_ca)
        shutil.copyfile(self.cache / "mitm-ca.pem", self.mitm_dir / "mitmproxy-ca.pem")
        os.chmod(self.mitm_dir / "mitmproxy-ca.pem", 0o600)
        shutil.copyfile(self.cache / "mitm-ca-cert.pem", self.mitm_dir / "mitmproxy-ca-cert.pem")
        for url, source in (
            (config.CRL_URL, "intermediate.crl"),
            (config.ROOT_CRL_URL, "root.crl"),
            (config.CA_ISSUERS_URL, "intermediate.crt"),
        ):
            target = self.www / urlsplit(url).path.lstrip("/")
            shutil.copyfile(self.cache / source, target)
            os.chmod(target, 0o644)
        self.resolv_conf.write_text(
            f"# hybridports lab: the cloud's DNS\nnameserver {config.CLOUD_DNS_ADDRESS}\n"
        )
        os.chmod(self.resolv_conf, 0o644)
        (self.etc / "dnsmasq.conf").write_text(self.dnsmasq_conf())
        (self.etc / "nginx.conf").write_text(self.nginx_conf())
        (self.etc / "squid.conf").write_text(self.squid_conf())
        self._write_htpasswd()

    def _write_htpasswd(self) -> None:
        # An Apache MD5 ($apr1$) hash, as basic_ncsa_auth reads it; the password goes
        # through stdin, never the command line.
        digest = run(
            ["openssl", "passwd", "-apr1", "-stdin"], input=self.proxy_password() + "\n"
        ).stdout.strip()
        path = self.squid_dir / "htpasswd"
        path.write_text(f"{config.PROXY_USER}:{digest}\n")
        proxy = pwd.getpwnam("proxy")
        for item in (self.squid_dir, path):
            os.chown(item, proxy.pw_uid, proxy.pw_gid)
        os.chmod(self.squid_dir, 0o750)
        os.chmod(path, 0o600)

    def dnsmasq_conf(self) -> str:
        names = self.names()
        v4, v6 = config.CLOUD_ADDRESS, config.CLOUD_ADDRESS6
        lines = [
            "# Written by the hybridports lab (lab/cloud.py) at every start.",
            "# The cloud's DNS: catalog names only; no upstream, no DHCP, no /etc/hosts.",
            "no-resolv",
            "no-hosts",
            "no-poll",
            "bind-interfaces",
            f"listen-address={v4}",
            f"listen-address={v6}",
            "port=53",
            "user=nobody",
            "group=nogroup",
            "local-ttl=60",
            "log-facility=-",
            "# Anything not answered below: NXDOMAIN.",
            "address=/#/",
            f"# An explicitly unresolvable zone, for tests.\naddress=/{config.NX_ZONE}/",
            "# Wildcards *.x.y: x.y and every name under it.",
        ]
        for wildcard in names["wildcards"]:
            apex = wildcard[2:]
            lines += [f"address=/{apex}/{v4}", f"address=/{apex}/{v6}"]
        lines.append("# Concrete names: that name only.")
        lines += [f"host-record={name},{v4},{v6}" for name in names["concrete"]]
        return "\n".join(lines) + "\n"

    def nginx_conf(self) -> str:
        inside = self._in
        v4, v6 = config.CLOUD_ADDRESS, config.CLOUD_ADDRESS6
        crl_locations = "\n".join(
            f"\t\tlocation = {urlsplit(url).path} {{ root {inside(self.www)}; }}"
            for url in (config.CRL_URL, config.ROOT_CRL_URL, config.CA_ISSUERS_URL)
        )
        temp = inside(self.live / "nginx")
        return f"""# Written by the hybridports lab (lab/cloud.py) at every start.
user www-data;
worker_processes 1;
daemon off;
master_process on;
pid {inside(self.run_dir / "nginx.native.pid")};
lock_file {inside(self.run_dir / "nginx.lock")};
error_log {inside(self.log_dir / "nginx-error.log")} warn;
events {{ worker_connections 512; }}
http {{
\taccess_log {inside(self.log_dir / "nginx-access.log")};
\tclient_body_temp_path {temp}/body;
\tproxy_temp_path {temp}/proxy;
\tfastcgi_temp_path {temp}/fastcgi;
\tuwsgi_temp_path {temp}/uwsgi;
\tscgi_temp_path {temp}/scgi;
\ttypes {{
\t\tapplication/pkix-crl crl;
\t\tapplication/pkix-cert crt;
\t}}
\tdefault_type text/plain;
\tadd_header X-Hybridports-Lab cloud always;
\t# Port 80: the CRLs and the CA Issuers certificate at their URLs, 200 text otherwise.
\tserver {{
\t\tlisten {v4}:80 default_server;
\t\tlisten [{v6}]:80 default_server;
\t\tserver_name _;
{crl_locations}
\t\tlocation / {{ return 200 "hybridports lab cloud (http): $host$request_uri\\n"; }}
\t}}
\t# Port 443: every catalog name, 200 text for any path (/, /ProvisioningService.svc...).
\tserver {{
\t\tlisten {v4}:443 ssl http2 default_server;
\t\tlisten [{v6}]:443 ssl http2 default_server;
\t\tserver_name _;
\t\tssl_certificate {inside(self.pki / "server-chain.pem")};
\t\tssl_certificate_key {inside(self.pki / "server.key")};
\t\tssl_protocols TLSv1.2 TLSv1.3;
\t\tlocation / {{ return 200 "hybridports lab cloud (https): $host$request_uri\\n"; }}
\t}}
}}
"""

    def squid_conf(self) -> str:
        inside = self._in
        p = config.PROXY_ADDRESS
        denied = " ".join(config.PROXY_DENIED)
        return f"""# Written by the hybridports lab (lab/cloud.py) at every start.
http_port {p}:{config.PROXY_PORT} name=open
http_port {p}:{config.PROXY_AUTH_PORT} name=auth
pid_filename none
cache_effective_user proxy
cache_effective_group proxy
access_log stdio:{inside(self.squid_dir / "access.log")}
cache_log {inside(self.squid_dir / "cache.log")}
cache_store_log none
coredump_dir {inside(self.squid_dir)}
cache deny all
cache_mem 8 MB
max_filedescriptors 1024
dns_nameservers {config.CLOUD_DNS_ADDRESS}
hosts_file none
visible_hostname proxy.cloud.hybridports.lab
shutdown_lifetime 1 seconds
pinger_enable off
netdb_filename none
auth_param basic program /usr/lib/squid/basic_ncsa_auth {inside(self.squid_dir / "htpasswd")}
auth_param basic children 2 startup=1 idle=1
auth_param basic realm hybridports lab proxy
auth_param basic credentialsttl 1 minute
acl open_port myportname open
acl auth_port myportname auth
acl CONNECT method CONNECT
acl tls_ports port 443 {config.AMQP_PORT}
acl web_port port 80
acl denied dstdomain {denied}
acl authenticated proxy_auth REQUIRED
http_access deny CONNECT !tls_ports
http_access deny !CONNECT !web_port
http_access deny denied
http_access allow open_port
http_access allow auth_port authenticated
http_access deny all
"""

    def _argv(self, service: str) -> list[str]:
        inside = self._in
        if service == "dnsmasq":
            return [
                "dnsmasq", "--keep-in-foreground",
                f"--conf-file={inside(self.etc / 'dnsmasq.conf')}",
                f"--pid-file={inside(self.run_dir / 'dnsmasq.native.pid')}",
            ]  # fmt: skip
        if service == "nginx":
            return [
                "nginx", "-c", inside(self.etc / "nginx.conf"),
                "-p", inside(self.live / "nginx"),
                "-e", inside(self.log_dir / "nginx-error.log"),
            ]  # fmt: skip
        if service == "squid":
            return ["squid", "-N", "-f", inside(self.etc / "squid.conf")]
        if service == "mitmproxy":
            return [
                "mitmdump", "--mode", "regular",
                "--listen-host", config.MITM_ADDRESS, "--listen-port", str(config.MITM_PORT),
                "--set", f"confdir={inside(self.mitm_dir)}",
                "--set", f"ssl_verify_upstream_trusted_ca={inside(self.pki / 'public-root.pem')}",
                "--set", "block_global=false",
                "--set", "flow_detail=1",
            ]  # fmt: skip
        if service == "amqp":
            return [
                DEBIAN_PYTHON, str(AMQP_SCRIPT),
                "--cert", inside(self.pki / "server-chain.pem"),
                "--key", inside(self.pki / "server.key"),
                "--listen", config.CLOUD_ADDRESS, "--listen", config.CLOUD_ADDRESS6,
                "--port", str(config.AMQP_PORT),
            ]  # fmt: skip
        raise KeyError(service)

    # ------------------------------------------------------------------ run
    def launch(self) -> None:
        """Start every service in hp-cloud (detached); ``wait_ready`` waits for them."""
        for service in SERVICES:
            pid_file = _inside(self.pid_file(service.name), self.live)
            log_file = _inside(self.log_dir / f"{service.name}.log", self.live)
            # setsid -f: a new session, detached from us; the shell records its own pid
            # and becomes the service (exec), whose output goes to its log file.
            wrapper = [
                "setsid", "-f", "/bin/sh", "-c",
                'echo $$ > "$1"; log=$2; shift 2; exec "$@" >>"$log" 2>&1 </dev/null',
                "hp-lab-cloud", pid_file, log_file, *self._argv(service.name),
            ]  # fmt: skip
            argv = ns_argv(config.NS_CLOUD, wrapper, self.state)
            debug(f"starting {service.name}")
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                timeout=30,
                check=False,
            )
            if proc.returncode != 0:
                raise LabError(f"could not start {service.name}: {proc.stderr.strip()}")

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def pid(self, service: Service) -> int | None:
        """pid of a running service in hp-cloud (from its pid file, checked), or None."""
        try:
            pid = int(self.pid_file(service.name).read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
        except (OSError, ValueError, IndexError):
            return None
        # By word (nginx rewrites its command line to "nginx: master process nginx -c ...").
        text = b" ".join(cmdline).decode(errors="replace")
        words = set(re.split(r"[\s/:]+", text))
        if state == "Z" or service.marker not in words:
            return None
        return pid if netns.pid_in(pid, config.NS_CLOUD) else None

    def pids(self) -> dict[str, int | None]:
        return {service.name: self.pid(service) for service in SERVICES}

    def listening(self) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
        """(tcp, udp) sets of (address, port) bound in hp-cloud."""
        proc = run(["ip", "netns", "exec", config.NS_CLOUD, "ss", "-Hlntu"], check=False)
        tcp: set[tuple[str, int]] = set()
        udp: set[tuple[str, int]] = set()
        for line in proc.stdout.splitlines():
            fields = line.split()
            if len(fields) < 5:
                continue
            address, _, port = fields[4].rpartition(":")
            if not port.isdigit():
                continue
            address = address.strip("[]").split("%")[0]
            (tcp if fields[0] == "tcp" else udp).add((address, int(port)))
        return tcp, udp

    @staticmethod
    def wanted() -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
        tcp = {(a, p) for a, ports in config.CLOUD_TCP_PORTS.items() for p in ports}
        tcp |= {(config.CLOUD_ADDRESS6, p) for p in config.CLOUD_TCP6_PORTS}
        udp = {(a, p) for a, ports in config.CLOUD_UDP_PORTS.items() for p in ports}
        udp.add((config.CLOUD_ADDRESS6, 53))
        return tcp, udp

    def missing(self) -> tuple[list[str], set[tuple[str, int]], set[tuple[str, int]]]:
        """(dead services, missing tcp, missing udp)."""
        dead = [name for name, pid in self.pids().items() if pid is None]
        tcp, udp = self.listening()
        want_tcp, want_udp = self.wanted()
        return dead, want_tcp - tcp, want_udp - udp

    def healthy(self) -> bool:
        if not netns.exists(config.NS_CLOUD) or not self.pki_ok():
            return False
        if self._pki_facts().get("crl_next_update", 0) < time.time() + CRL_REFRESH:
            return False  # let up() re-sign the CRL and restart
        dead, tcp, udp = self.missing()
        return not (dead or tcp or udp)

    def wait_ready(self, timeout: float = 45.0) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        dead: list[str] = []
        tcp: set[tuple[str, int]] = set()
        udp: set[tuple[str, int]] = set()
        while time.monotonic() < deadline:
            dead, tcp, udp = self.missing()
            if not (dead or tcp or udp):
                return {k: v for k, v in self.pids().items() if v is not None}
            # A service that wrote its pid and then died will not come back: fail early.
            exited = [n for n in dead if self.pid_file(n).exists() and self._gone(n)]
            if exited:
                raise LabError(
                    f"cloud service(s) exited during start-up: {exited}\n"
                    + "\n".join(self.log_tail(n) for n in exited)
                )
            time.sleep(0.1)
        raise LabError(
            f"cloud services not ready after {timeout}s (dead {dead}, missing tcp "
            f"{sorted(tcp)}, udp {sorted(udp)})\n" + "\n".join(self.log_tail(n) for n in dead)
        )

    def _gone(self, name: str) -> bool:
        try:
            pid = int(self.pid_file(name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
        except (OSError, IndexError):
            return True
        return state == "Z"

    def stop(self) -> None:
        """Stop the cloud services (by their checked pids, then anything left in hp-cloud)."""
        for service in SERVICES:
            pid = self.pid(service)
            if pid is None:
                continue
            try:
                os.kill(pid, service.stop_signal)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(p is not None for p in self.pids().values()):
            time.sleep(0.1)
        if netns.exists(config.NS_CLOUD):
            netns.kill_all(config.NS_CLOUD)
        for service in SERVICES:
            self.pid_file(service.name).unlink(missing_ok=True)

    def log_tail(self, name: str, lines: int = 15) -> str:
        try:
            text = (self.log_dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return f"({name}: no log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- {name} log:\n{tail}"


_PKI_PYTHON: str | None = None


def pki_python() -> str:
    """A Python with ``cryptography`` and PyYAML: the project's venv, this one, or Debian's."""
    global _PKI_PYTHON
    if _PKI_PYTHON is not None:
        return _PKI_PYTHON
    candidates = [
        str(HERE.parent / ".venv" / "bin" / "python"),
        sys.executable,
        DEBIAN_PYTHON,
    ]
    for candidate in dict.fromkeys(candidates):
        if not candidate or not Path(candidate).exists():
            continue
        proc = run([candidate, "-c", "import cryptography, yaml"], check=False, timeout=60)
        if proc.returncode == 0:
            _PKI_PYTHON = candidate
            return candidate
    raise LabUnavailable(
        "no Python with 'cryptography' and 'PyYAML' for the cloud PKI "
        "(create the project's venv: .venv)"
    )
