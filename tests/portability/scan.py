"""A static scan of hybridports' source for POSIX/Linux-only calls that have no fallback.

A use counts as guarded when it sits under a platform test (``sys.platform``, ``os.name``,
``platform.system()``, ``hasattr``, ``getattr`` with a default, or a module-level flag
computed from one of those), after an early ``if not FLAG: return``, inside a ``try`` or
``contextlib.suppress`` that catches what Windows raises, or when ``ALLOWED`` lists it with
a reason. Anything else is a finding: Windows would fail there with AttributeError,
ImportError or NotImplementedError (ProactorEventLoop has no add_reader).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Whole modules that do not exist on Windows.
POSIX_MODULES = frozenset(
    {"fcntl", "resource", "termios", "pwd", "grp", "pty", "tty", "posix", "crypt", "spwd",
     "syslog", "nis", "ossaudiodev", "curses", "readline"}
)  # fmt: skip

# module -> attributes Windows' build of it lacks (or that fail there).
POSIX_ATTRIBUTES: dict[str, frozenset[str]] = {
    "os": frozenset(
        {"fork", "forkpty", "setns", "unshare", "getuid", "geteuid", "getgid", "getegid",
         "getgroups", "setuid", "seteuid", "setgid", "setegid", "setsid", "setpgrp", "getpgid",
         "getsid", "killpg", "chown", "lchown", "fchown", "chroot", "mkfifo", "mknod",
         "getloadavg", "uname", "sync", "statvfs", "fstatvfs", "nice", "getpriority",
         "setpriority", "sched_setaffinity", "sched_getaffinity", "pipe2", "wait3", "wait4",
         "WNOHANG", "sendfile", "pidfd_open", "memfd_create", "eventfd", "splice", "posix_spawn",
         "posix_spawnp", "posix_fadvise", "openpty", "ttyname", "ctermid", "getresuid",
         "initgroups", "O_NONBLOCK", "O_CLOEXEC", "major", "minor", "makedev", "tcgetpgrp"}
    ),
    "signal": frozenset(
        {"SIGALRM", "SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCHLD", "SIGPIPE",
         "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGWINCH", "alarm", "setitimer", "getitimer",
         "pause", "pthread_kill", "pthread_sigmask", "sigwait", "siginterrupt", "ITIMER_REAL"}
    ),
    "socket": frozenset(
        {"IP_RECVERR", "IPV6_RECVERR", "MSG_ERRQUEUE", "MSG_DONTWAIT", "MSG_NOSIGNAL",
         "MSG_CONFIRM", "MSG_MORE", "AF_UNIX", "AF_PACKET", "AF_NETLINK", "SO_BINDTODEVICE",
         "SO_REUSEPORT", "SO_MARK", "SO_PRIORITY", "SO_PEERCRED", "TCP_USER_TIMEOUT",
         "TCP_CORK", "TCP_QUICKACK", "TCP_SYNCNT", "IP_TRANSPARENT", "IP_MTU_DISCOVER",
         "IP_PMTUDISC_DO", "CMSG_LEN", "CMSG_SPACE", "sethostname", "SOCK_NONBLOCK",
         "SOCK_CLOEXEC"}
    ),
    "select": frozenset({"epoll", "poll", "kqueue", "devpoll", "EPOLLIN", "EPOLLOUT", "POLLIN"}),
    "asyncio": frozenset(
        {"open_unix_connection", "start_unix_server", "get_child_watcher", "set_child_watcher",
         "SafeChildWatcher", "ThreadedChildWatcher", "PidfdChildWatcher", "unix_events"}
    ),
}  # fmt: skip

# Methods missing on Windows whatever the object: sockets have no recvmsg/sendmsg there, and
# the default ProactorEventLoop raises NotImplementedError for readers, writers and signals.
POSIX_METHODS = frozenset(
    {"recvmsg", "recvmsg_into", "sendmsg", "add_reader", "add_writer", "remove_reader",
     "remove_writer", "add_signal_handler", "remove_signal_handler", "create_unix_connection",
     "create_unix_server"}
)  # fmt: skip

# What Windows raises for a missing attribute, module or loop feature; a handler of one of
# these is a fallback. (OSError is not: a missing constant is an AttributeError.)
FALLBACK_EXCEPTIONS = frozenset(
    {"AttributeError", "ImportError", "ModuleNotFoundError", "NotImplementedError", "Exception",
     "BaseException"}
)  # fmt: skip

PATH_PREFIXES = ("/proc/", "/sys/", "/dev/", "/etc/", "/run/", "/tmp/", "/var/")

# (path relative to the package, what) -> why it is fine on Windows. Keep it short.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    what: str

    def __str__(self) -> str:
        if self.what.startswith("unparsable"):
            return f"{self.file}:{self.line}: {self.what}"
        return f"{self.file}:{self.line}: {self.what} is POSIX/Linux-only and has no fallback"


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _is_platform_test(node: ast.AST, flags: frozenset[str]) -> bool:
    """Does the expression look at the platform (or at a flag computed from it)?"""
    for sub in ast.walk(node):
        name = _dotted(sub)
        if name in ("sys.platform", "os.name", "platform.system"):
            return True
        if isinstance(sub, ast.Name | ast.Attribute) and (name or "").split(".")[-1] in flags:
            return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
            if sub.func.id == "hasattr" or (sub.func.id == "getattr" and len(sub.args) == 3):
                return True
    return False


def platform_flags(tree: ast.Module) -> set[str]:
    """Module-level names assigned from a platform test, such as ``HAS_ERROR_QUEUE``."""
    found: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and _is_platform_test(stmt.value, frozenset()):
            found.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        elif (
            isinstance(stmt, ast.AnnAssign)
            and stmt.value is not None
            and isinstance(stmt.target, ast.Name)
            and _is_platform_test(stmt.value, frozenset())
        ):
            found.add(stmt.target.id)
    return found


def _catches_fallback(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any((_dotted(t) or "").split(".")[-1] in FALLBACK_EXCEPTIONS for t in types)


def _exits(body: list[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], ast.Return | ast.Raise | ast.Continue | ast.Break)


class _Scanner:
    def __init__(self, tree: ast.Module, file: str, flags: frozenset[str]) -> None:
        self.file = file
        self.flags = flags
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self.aliases: dict[str, str] = {}  # local name -> module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    top = alias.name.split(".")[0]
                    self.aliases[alias.asname or top] = alias.name if alias.asname else top
        self.tree = tree

    def findings(self) -> Iterator[Finding]:
        docstrings = self._docstrings()
        for node in ast.walk(self.tree):
            what = self._posix_only(node, docstrings)
            if what and not self._guarded(node):
                yield Finding(self.file, getattr(node, "lineno", 0), what)

    def _docstrings(self) -> set[ast.AST]:
        found: set[ast.AST] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                ):
                    found.add(body[0].value)
        return found

    def _posix_only(self, node: ast.AST, docstrings: set[ast.AST]) -> str | None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in POSIX_MODULES:
                    return f"import {alias.name}"
            return None
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = node.module.split(".")[0]
            if module in POSIX_MODULES:
                return f"from {node.module} import"
            for alias in node.names:
                if alias.name in POSIX_ATTRIBUTES.get(node.module, frozenset()):
                    return f"{node.module}.{alias.name}"
            return None
        if isinstance(node, ast.Attribute):
            base = _dotted(node.value) or ""
            module = self.aliases.get(base, base)
            if module in POSIX_ATTRIBUTES and node.attr in POSIX_ATTRIBUTES[module]:
                return f"{module}.{node.attr}"
            if node.attr in POSIX_METHODS:
                return f".{node.attr}()"
            return None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) == 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            name = node.args[1].value
            if name in POSIX_METHODS or any(name in attrs for attrs in POSIX_ATTRIBUTES.values()):
                return f"getattr(..., {name!r}) without a default"
            return None
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(PATH_PREFIXES)
            and node not in docstrings
        ):
            return f"the Unix path {node.value!r}"
        return None

    def _guarded(self, node: ast.AST) -> bool:
        child, parent = node, self.parents.get(node)
        while parent is not None:
            if isinstance(parent, ast.If | ast.IfExp | ast.While) and child is not parent.test:
                if _is_platform_test(parent.test, self.flags):
                    return True
            if isinstance(parent, ast.BoolOp):
                before = (
                    parent.values[: parent.values.index(child)] if child in parent.values else []
                )
                if any(_is_platform_test(v, self.flags) for v in before):
                    return True
            if isinstance(parent, ast.Try) and child in parent.body:
                if any(_catches_fallback(h) for h in parent.handlers):
                    return True
            if isinstance(parent, ast.With | ast.AsyncWith) and self._suppresses(parent):
                return True
            if self._after_early_exit(parent, child):
                return True
            child, parent = parent, self.parents.get(parent)
        return False

    def _suppresses(self, node: ast.With | ast.AsyncWith) -> bool:
        for item in node.items:
            call = item.context_expr
            if isinstance(call, ast.Call) and (_dotted(call.func) or "").endswith("suppress"):
                names = {(_dotted(a) or "").split(".")[-1] for a in call.args}
                if names & FALLBACK_EXCEPTIONS:
                    return True
        return False

    def _after_early_exit(self, parent: ast.AST, child: ast.AST) -> bool:
        """``if not FLAG: return`` earlier in the same block guards what follows."""
        for field in ("body", "orelse", "finalbody"):
            block = getattr(parent, field, None)
            if not isinstance(block, list) or child not in block:
                continue
            for stmt in block[: block.index(child)]:
                if (
                    isinstance(stmt, ast.If)
                    and _exits(stmt.body)
                    and _is_platform_test(stmt.test, self.flags)
                ):
                    return True
        return False


def scan_source(text: str, file: str, flags: frozenset[str] = frozenset()) -> list[Finding]:
    tree = ast.parse(text, filename=file)
    every = frozenset(flags | platform_flags(tree))
    return sorted(_Scanner(tree, file, every).findings())


def scan_package(root: Path) -> list[Finding]:
    """Every unguarded, un-allowed finding under ``root`` (paths relative to it)."""
    trees: dict[Path, ast.Module] = {}
    findings: list[Finding] = []
    for path in root.rglob("*.py"):
        try:
            trees[path] = ast.parse(path.read_bytes(), filename=str(path))
        except SyntaxError as exc:
            what = f"unparsable source ({exc.msg}), so unchecked"
            findings.append(Finding(path.relative_to(root).as_posix(), exc.lineno or 0, what))
    flags = frozenset(name for tree in trees.values() for name in platform_flags(tree))
    for path, tree in sorted(trees.items()):
        file = path.relative_to(root).as_posix()
        findings.extend(
            f for f in _Scanner(tree, file, flags).findings() if (f.file, f.what) not in ALLOWED
        )
    return sorted(findings)
