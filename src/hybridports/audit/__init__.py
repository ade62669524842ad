"""Audit: read an existing firewall policy and say which planned flows it lets through.

To add a policy format: a module with a PolicyParser subclass, and one line in PARSERS.
"""

from __future__ import annotations

from hybridports.audit.aws_sg import AwsSgParser
from hybridports.audit.azure_nsg import AzureNsgParser
from hybridports.audit.interface import PolicyParser
from hybridports.audit.iptables import IptablesSaveParser
from hybridports.audit.nftables import NftablesJsonParser
from hybridports.audit.windows import WindowsFirewallParser

PARSERS: dict[str, PolicyParser] = {
    parser.name: parser
    for parser in (
        NftablesJsonParser(),
        IptablesSaveParser(),
        AzureNsgParser(),
        AwsSgParser(),
        WindowsFirewallParser(),
    )
}

__all__ = ["PARSERS", "PolicyParser"]
