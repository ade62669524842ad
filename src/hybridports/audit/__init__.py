"""Audit: read an existing firewall policy and say which planned flows it lets through.

To add a policy format: a module with a PolicyParser subclass, and one line in PARSERS.
"""

from __future__ import annotations

from hybridports.audit.interface import PolicyParser

PARSERS: dict[str, PolicyParser] = {}

__all__ = ["PARSERS", "PolicyParser"]
