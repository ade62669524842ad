"""Ansible connection plugin: each inventory host is a Linux network namespace on this machine.

It is the ``local`` connection with every command wrapped in ``ip netns exec NAMESPACE``, so a
task sees the addresses, routes and firewall path of its namespace -- as if it ran on a host
at that position in the network. File transfer is the ``local`` plugin's plain copy, because
namespaces share the filesystem. Used by the lab inventory and tests/fleet; needs root.
"""

from __future__ import annotations

import os
import shlex

import ansible.constants as C  # type: ignore[import-untyped]
from ansible.errors import AnsibleConnectionFailure  # type: ignore[import-untyped]
from ansible.plugins.connection.local import (  # type: ignore[import-untyped]
    Connection as LocalConnection,
)
from ansible.utils.display import Display  # type: ignore[import-untyped]

DOCUMENTATION = """
    name: netns
    short_description: run tasks on this machine inside a Linux network namespace
    description:
        - Like the C(local) connection, but every command runs through
          C(ip netns exec NAMESPACE), so each inventory host probes from the network
          position of its own namespace.
        - Files are copied as by C(local), since network namespaces share the filesystem.
        - Needs root (C(ip netns exec) does), and the namespace must exist
          (C(ip netns list)).
    author:
        - hybridports developers
    options:
        netns:
            description: Name of the network namespace (as in C(ip netns list)).
            type: str
            required: true
            vars:
                - name: ansible_netns
        ip_command:
            description: The C(ip) program (iproute2).
            type: str
            default: ip
            vars:
                - name: ansible_netns_ip_command
        become_success_timeout:
            description: As for the C(local) connection (ansible-core 2.19 and later).
            type: int
            default: 10
            vars:
                - name: ansible_local_become_success_timeout
        become_strip_preamble:
            description: As for the C(local) connection (ansible-core 2.19 and later).
            type: bool
            default: true
            vars:
                - name: ansible_local_become_strip_preamble
    extends_documentation_fragment:
        - connection_pipelining
"""

display = Display()

NETNS_DIR = "/run/netns"  # where `ip netns add` keeps the namespace handles


class Connection(LocalConnection):  # type: ignore[misc]
    """The ``local`` connection, inside a named network namespace."""

    transport = "netns"

    def _connect(self) -> Connection:
        namespace = self.get_option("netns")
        if not namespace or "/" in namespace or namespace in (".", ".."):
            raise AnsibleConnectionFailure(f"netns: bad namespace name {namespace!r}")
        if not os.path.exists(os.path.join(NETNS_DIR, namespace)):
            raise AnsibleConnectionFailure(
                f"netns: network namespace {namespace!r} does not exist (see `ip netns list`)"
            )
        super()._connect()
        return self

    def exec_command(
        self, cmd: str, in_data: bytes | None = None, sudoable: bool = True
    ) -> tuple[int, bytes, bytes]:
        # The local plugin hands a string to the shell; run that same shell inside the
        # namespace so quoting, pipes and redirections keep their meaning.
        shell = C.DEFAULT_EXECUTABLE.split()[0] if C.DEFAULT_EXECUTABLE else "/bin/sh"
        wrapped = " ".join(
            shlex.quote(part)
            for part in (
                self.get_option("ip_command"),
                "netns",
                "exec",
                self.get_option("netns"),
                shell,
                "-c",
                cmd,
            )
        )
        display.vvv(f"NETNS {self.get_option('netns')}", host=self._play_context.remote_addr)
        result: tuple[int, bytes, bytes] = super().exec_command(wrapped, in_data, sudoable)
        return result
