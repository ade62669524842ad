"""Small helpers: running commands, errors, logging, locking."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


class LabError(RuntimeError):
    """Something in the lab failed (a command, a start-up, a check)."""


class LabUnavailable(LabError):
    """The lab cannot run here at all (not root, no network namespaces, no apt...)."""


def verbose() -> bool:
    return os.environ.get("HP_LAB_VERBOSE", "") not in ("", "0")


def log(message: str) -> None:
    print(f"[lab] {message}", file=sys.stderr, flush=True)


def debug(message: str) -> None:
    if verbose():
        log(message)


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 120,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output as text, raise LabError on failure when ``check``."""
    if verbose():
        shown = [("--adminpass=***" if a.startswith("--adminpass=") else a) for a in argv]
        if "-c" in shown:  # the long in-namespace wrapper script
            shown[shown.index("-c") + 1] = "<wrapper>"
        debug("$ " + shlex.join(shown))
    try:
        proc = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {argv[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {shlex.join(argv)}") from exc
    if check and proc.returncode != 0:
        raise LabError(
            f"command failed ({proc.returncode}): {shlex.join(argv)}\n"
            f"{proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc


class Timer:
    """Collects named durations (seconds) of the steps of an operation."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.times[name] = round(time.monotonic() - start, 3)
            debug(f"{name}: {self.times[name]:.2f}s")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if needed) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


class SessionLock:
    """Exclusive use of the lab by one process at a time (a test session, a demo).

    The scenarios are global state, so two concurrent users (say, two ``pytest`` runs on one
    machine) would break each other; the second waits for the first. The lock is an
    ``flock`` on a file, so it is released when its holder exits, even by a crash.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None

    def acquire(self, wait: float = 1800.0) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # kept open while held
        deadline = time.monotonic() + wait
        said = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.close()
                    raise LabError(
                        f"the lab is in use by pid {self.holder()} (waited {wait:.0f}s)"
                    ) from None
                if not said:
                    log(f"the lab is in use by pid {self.holder()}; waiting for it")
                    said = True
                time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def holder(self) -> int | None:
        """pid of another process holding the lock, or None."""
        if self._handle is not None or not self.path.exists():
            return None
        try:
            handle = open(self.path, "a+")
        except OSError:  # not ours to read (not root): nobody we could disturb
            return None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                text = handle.read().strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def read_json_object(path: Path) -> dict[str, object]:
    """A JSON object from ``path``; empty when the file is missing, unreadable or not one."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
