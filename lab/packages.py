"""Installing the Debian packages the lab needs, without starting any service on the host.

Installing ``samba``/``winbind`` would normally start smbd, nmbd, samba-ad-dc and winbind
on the host (``nginx-light`` and ``squid``: nginx and squid; ``dnsmasq-base``, ``mitmproxy``
and ``python3-qpid-proton`` ship no service). During our ``apt-get install`` a
``/usr/sbin/policy-rc.d`` that answers 101 ("action forbidden") makes ``invoke-rc.d`` skip
every start (Debian policy, see /usr/share/doc/init-system-helpers/README.policy-rc.d). If
the machine already has one that denies starts (container images usually do), it is left
alone; otherwise ours is put in place for the duration of the install and the previous
state is restored afterwards. After the install, any samba/smbd/nmbd/winbindd/nginx/squid/
dnsmasq process that appeared in the host's own network namespace is stopped by its pid,
and, when systemd runs, the units are stopped and disabled so they do not start at the next
boot either.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import config
from ._util import LabError, LabUnavailable, log, run

POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
_POLICY_TEXT = "#!/bin/sh\n# hybridports lab: no service starts during package installs\nexit 101\n"
_SAMBA_COMMS = ("samba", "smbd", "nmbd", "winbindd")
_SERVICE_COMMS = (*_SAMBA_COMMS, "nginx", "squid", "dnsmasq")


def missing(packages: Iterable[str]) -> list[str]:
    """The packages of ``packages`` that are not installed (dpkg status not 'ii')."""
    out: list[str] = []
    for name in dict.fromkeys(packages):
        proc = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", name], check=False)
        if proc.returncode != 0 or not proc.stdout.startswith("ii"):
            out.append(name)
    return out


def _policy_denies_starts() -> bool:
    if not (POLICY_RC_D.exists() and os.access(POLICY_RC_D, os.X_OK)):
        return False
    proc = subprocess.run(
        [str(POLICY_RC_D), "smbd", "start"], capture_output=True, check=False, timeout=10
    )
    return proc.returncode == 101


@contextlib.contextmanager
def no_service_starts() -> Iterator[None]:
    if _policy_denies_starts():
        yield
        return
    backup = POLICY_RC_D.with_name("policy-rc.d.hp-lab-backup")
    had_one = POLICY_RC_D.exists()
    if had_one:
        shutil.move(POLICY_RC_D, backup)
    try:
        POLICY_RC_D.write_text(_POLICY_TEXT)
        POLICY_RC_D.chmod(0o755)
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)
        if had_one:
            shutil.move(backup, POLICY_RC_D)


# A daemon run with its own config file (nginx -c, squid -f, dnsmasq --conf-file=...) was
# started by somebody on purpose, not by a package's init script: never ours to stop. (nginx
# rewrites its command line to "nginx: master process nginx -c ..."; its workers show no
# options at all, so they are judged by their master.)
_OWN_CONFIG = re.compile(r"(^|\s)(-c|-f|-C|--conf-file|--conf-dir)(\s|=|$)")


def _own_config(pid: str, depth: int = 0) -> bool:
    proc = Path("/proc") / pid
    try:
        text = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        comm = (proc / "comm").read_text().strip()
        ppid = (proc / "stat").read_text().split(") ", 1)[1].split()[1]
    except (OSError, IndexError):
        return False
    if _OWN_CONFIG.search(text):
        return True
    try:
        parent_comm = (Path("/proc") / ppid / "comm").read_text().strip()
    except OSError:
        return False
    return depth < 3 and parent_comm == comm and _own_config(ppid, depth + 1)


def _host_service_pids() -> set[int]:
    """pids of service daemons (samba family, nginx, squid, dnsmasq) that a package install
    may have started, running in the host's (our own) network namespace."""
    try:
        host_net = os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return set()
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if comm not in _SERVICE_COMMS or os.stat(entry / "ns" / "net").st_ino != host_net:
                continue
        except OSError:
            continue
        if comm in _SAMBA_COMMS or not _own_config(entry.name):
            pids.add(int(entry.name))
    return pids


def _systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir()


def ensure(packages: Iterable[str]) -> list[str]:
    """Install the missing ones of ``packages``; return what was installed.

    Raises LabUnavailable when something is missing and we cannot install (not root, no
    apt-get).
    """
    todo = missing(packages)
    if not todo:
        return []
    if os.geteuid() != 0:
        raise LabUnavailable(
            "missing Debian packages: " + " ".join(todo) + " (run as root to install them)"
        )
    if shutil.which("apt-get") is None:
        raise LabUnavailable("missing Debian packages and no apt-get: " + " ".join(todo))
    log("installing Debian packages: " + " ".join(todo))
    before = _host_service_pids()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *todo]
    with no_service_starts():
        proc = run(argv, check=False, timeout=900, env=env)
        if proc.returncode != 0:
            # Usually a stale or missing package index.
            run(["apt-get", "update", "-q"], check=False, timeout=600, env=env)
            proc = run(argv, check=False, timeout=900, env=env)
    if proc.returncode != 0:
        raise LabError(f"apt-get install failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    _stop_new_host_services(before, todo)
    still = missing(todo)
    if still:
        raise LabError("packages still missing after apt-get install: " + " ".join(still))
    return todo


def _stop_new_host_services(before: set[int], installed: list[str]) -> None:
    if _systemd_running():
        # Only the units of packages this install brought in: a host that ran samba before
        # keeps its own services as they were.
        for package in installed:
            for unit in config.HOST_SERVICES.get(package, ()):
                run(["systemctl", "disable", "--now", f"{unit}.service"], check=False, timeout=60)
    for pid in sorted(_host_service_pids() - before):
        log(f"stopping host service process {pid} started by the package install")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 15)
