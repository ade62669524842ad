"""Installing the Debian packages the lab needs, without starting any service on the host.

Installing ``samba``/``winbind`` would normally start smbd, nmbd, samba-ad-dc and winbind
on the host. During our ``apt-get install`` a ``/usr/sbin/policy-rc.d`` that answers 101
("action forbidden") makes ``invoke-rc.d`` skip every start (Debian policy, see
/usr/share/doc/init-system-helpers/README.policy-rc.d). If the machine already has one that
denies starts (container images usually do), it is left alone; otherwise ours is put in
place for the duration of the install and the previous state is restored afterwards.
After the install, any samba/smbd/nmbd/winbindd process that appeared in the host's own
network namespace is stopped by its pid, and, when systemd runs, the units are stopped and
disabled so they do not start at the next boot either.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import config
from ._util import LabError, LabUnavailable, log, run

POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
_POLICY_TEXT = "#!/bin/sh\n# hybridports lab: no service starts during package installs\nexit 101\n"
_SERVICE_COMMS = ("samba", "smbd", "nmbd", "winbindd")


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


def _host_service_pids() -> set[int]:
    """pids of samba-family daemons running in the host's (our own) network namespace."""
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
            if comm in _SERVICE_COMMS and os.stat(entry / "ns" / "net").st_ino == host_net:
                pids.add(int(entry.name))
        except OSError:
            continue
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
