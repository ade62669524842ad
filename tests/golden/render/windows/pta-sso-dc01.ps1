# hybridports windows rules for pta-sso, host dc01
# Run in an elevated PowerShell on dc01 (10.0.2.10).
# Idempotent: it first removes every rule of the group 'hybridports', then adds the planned rules
#   again. Every rule names its catalog ids and purposes.
# Windows Firewall blocks unsolicited inbound traffic by default, so the inbound rules are what
#   this host accepts. Most estates allow all outbound traffic: the outbound rules only matter
#   where outbound is blocked by default (Set-NetFirewallProfile -DefaultOutboundAction Block).
#   This script changes no profile setting.
# The firewall is stateful: replies to allowed connections pass.
# Cloud names: Windows Firewall matches addresses, not names (name matching needs Microsoft
#   Defender for Endpoint's dynamic keywords), so rules to cloud names allow the planned ports to
#   any address (-RemoteAddress Any) and list the names in their description.
# Dynamic RPC: inbound rules use the local-port keywords RPCEPMap (the endpoint mapper on TCP 135)
#   and RPC (only the ports the endpoint mapper hands out) instead of opening the whole dynamic
#   range (spec section 5.2, item 5). The RPC keyword relies on the RPCEPMap rule for the same
#   remote addresses.
$ErrorActionPreference = 'Stop'
Get-NetFirewallRule -Group 'hybridports' -ErrorAction SilentlyContinue | Remove-NetFirewallRule

# ---- Inbound (29 planned rules) ----

# connect-dc-icmp (optional): Reachability ping of the AD connectivity tool; LDAP client
#   keep-alive ping while a request is outstanding
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-icmp' -Description 'connect-dc-icmp (optional): Reachability ping of the AD connectivity tool; LDAP client keep-alive ping while a request is outstanding' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol ICMPv4 -IcmpType 8 -RemoteAddress '10.0.1.10' | Out-Null

# client-dc-dns-tcp (required): DC location before the Kerberos request
# From office
New-NetFirewallRule -DisplayName 'hybridports: client-dc-dns-tcp' -Description 'client-dc-dns-tcp (required): DC location before the Kerberos request' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 53 -RemoteAddress '10.20.0.0/16' | Out-Null

# connect-dc-dns-tcp, connect-dc-pta-dns-tcp (required): Resolve names in the target forest (TCP
#   for large answers)
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-dns-tcp, connect-dc-pta-dns-tcp' -Description 'connect-dc-dns-tcp, connect-dc-pta-dns-tcp (required): Resolve names in the target forest (TCP for large answers)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 53 -RemoteAddress '10.0.1.10' | Out-Null

# pta-agent-dc-pta-dns-tcp (required): DC location for the password check (LogonUser, network
#   logon)
# From pta01, pta02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-dns-tcp' -Description 'pta-agent-dc-pta-dns-tcp (required): DC location for the password check (LogonUser, network logon)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 53 -RemoteAddress '10.0.1.21', '10.0.1.22' | Out-Null

# client-dc-kerberos-tcp (required): Service ticket for the AZUREADSSOACC account
# From office
New-NetFirewallRule -DisplayName 'hybridports: client-dc-kerberos-tcp' -Description 'client-dc-kerberos-tcp (required): Service ticket for the AZUREADSSOACC account' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 88 -RemoteAddress '10.20.0.0/16' | Out-Null

# connect-dc-kerberos-tcp, connect-dc-pta-kerberos-tcp (required): Authenticate to the AD forest
#   (TCP for large tickets)
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-kerberos-tcp, connect-dc-pta-kerberos-tcp' -Description 'connect-dc-kerberos-tcp, connect-dc-pta-kerberos-tcp (required): Authenticate to the AD forest (TCP for large tickets)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 88 -RemoteAddress '10.0.1.10' | Out-Null

# pta-agent-dc-pta-kerberos-tcp (required): Validate the user's password with AD (network logon)
# From pta01, pta02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-kerberos-tcp' -Description 'pta-agent-dc-pta-kerberos-tcp (required): Validate the user''s password with AD (network logon)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 88 -RemoteAddress '10.0.1.21', '10.0.1.22' | Out-Null

# connect-dc-rpc-epm, connect-dc-pta-rpc-epm (required): RPC endpoint mapper: hands out the DC's
#   dynamic RPC port (directory replication interface for password hash sync)
# From sync01
# LocalPort RPCEPMap instead of 135: the endpoint mapper, paired with the RPC rule.
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-rpc-epm, connect-dc-pta-rpc-epm' -Description 'connect-dc-rpc-epm, connect-dc-pta-rpc-epm (required): RPC endpoint mapper: hands out the DC''s dynamic RPC port (directory replication interface for password hash sync)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort RPCEPMap -RemoteAddress '10.0.1.10' | Out-Null

# pta-agent-dc-pta-rpc-epm (required): RPC endpoint mapper for Netlogon / LSA during network logon
# From pta01, pta02
# LocalPort RPCEPMap instead of 135: the endpoint mapper, paired with the RPC rule.
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-rpc-epm' -Description 'pta-agent-dc-pta-rpc-epm (required): RPC endpoint mapper for Netlogon / LSA during network logon' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort RPCEPMap -RemoteAddress '10.0.1.21', '10.0.1.22' | Out-Null

# connect-dc-ldap-tcp, connect-dc-pta-ldap-tcp (required): Import from and export to Active
#   Directory (Kerberos signing and sealing)
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-ldap-tcp, connect-dc-pta-ldap-tcp' -Description 'connect-dc-ldap-tcp, connect-dc-pta-ldap-tcp (required): Import from and export to Active Directory (Kerberos signing and sealing)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 389 -RemoteAddress '10.0.1.10' | Out-Null

# pta-agent-dc-pta-ldap-tcp (required): Directory lookups during logon
# From pta01, pta02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-ldap-tcp' -Description 'pta-agent-dc-pta-ldap-tcp (required): Directory lookups during logon' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 389 -RemoteAddress '10.0.1.21', '10.0.1.22' | Out-Null

# connect-dc-pta-smb, connect-dc-smb (required): SMB as used by network logon (named pipes)
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-pta-smb, connect-dc-smb' -Description 'connect-dc-pta-smb, connect-dc-smb (required): SMB as used by network logon (named pipes)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 445 -RemoteAddress '10.0.1.10' | Out-Null

# pta-agent-dc-pta-smb (required): SMB as used by network logon (named pipes)
# From pta01, pta02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-smb' -Description 'pta-agent-dc-pta-smb (required): SMB as used by network logon (named pipes)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 445 -RemoteAddress '10.0.1.21', '10.0.1.22' | Out-Null

# connect-dc-kpasswd-tcp (optional): Machine and user password changes
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-kpasswd-tcp' -Description 'connect-dc-kpasswd-tcp (optional): Machine and user password changes' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 464 -RemoteAddress '10.0.1.10' | Out-Null

# connect-dc-gc (required): GC query before the AZUREADSSOACC computer account is created
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-gc' -Description 'connect-dc-gc (required): GC query before the AZUREADSSOACC computer account is created' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 3268 -RemoteAddress '10.0.1.10' | Out-Null

# connect-dc-gc-ssl (optional): GC over TLS for the AZUREADSSOACC key rollover (with 3268,
#   connect-dc-gc)
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-gc-ssl' -Description 'connect-dc-gc-ssl (optional): GC over TLS for the AZUREADSSOACC key rollover (with 3268, connect-dc-gc)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 3269 -RemoteAddress '10.0.1.10' | Out-Null

# connect-dc-rpc-dynamic, connect-dc-pta-rpc-dynamic (required): Dynamic RPC server ports of the
#   DC (directory replication, Netlogon, LSA, SAM)
# From sync01
# LocalPort RPC instead of 50000-50999: only the dynamic ports the endpoint mapper assigned pass.
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-rpc-dynamic, connect-dc-pta-rpc-dynamic' -Description 'connect-dc-rpc-dynamic, connect-dc-pta-rpc-dynamic (required): Dynamic RPC server ports of the DC (directory replication, Netlogon, LSA, SAM)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort RPC -RemoteAddress '10.0.1.10' | Out-Null

# pta-agent-dc-pta-rpc-dynamic (required): Dynamic RPC server ports of the DC (Netlogon, LSA)
# From pta01, pta02
# LocalPort RPC instead of 50000-50999: only the dynamic ports the endpoint mapper assigned pass.
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-rpc-dynamic' -Description 'pta-agent-dc-pta-rpc-dynamic (required): Dynamic RPC server ports of the DC (Netlogon, LSA)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort RPC -RemoteAddress '10.0.1.21', '10.0.1.22' | Out-Null

# client-dc-dns-udp (required): DC location before the Kerberos request
# From office
New-NetFirewallRule -DisplayName 'hybridports: client-dc-dns-udp' -Description 'client-dc-dns-udp (required): DC location before the Kerberos request' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 53 -RemoteAddress '10.20.0.0/16' | Out-Null

# connect-dc-dns-udp, connect-dc-pta-dns-udp (required): Resolve names in the target forest (SRV
#   lookup for DC location)
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-dns-udp, connect-dc-pta-dns-udp' -Description 'connect-dc-dns-udp, connect-dc-pta-dns-udp (required): Resolve names in the target forest (SRV lookup for DC location)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 53 -RemoteAddress '10.0.1.10' | Out-Null

# pta-agent-dc-pta-dns-udp (required): DC location for the password check (LogonUser, network
#   logon)
# From pta01, pta02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-dns-udp' -Description 'pta-agent-dc-pta-dns-udp (required): DC location for the password check (LogonUser, network logon)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 53 -RemoteAddress '10.0.1.21', '10.0.1.22' | Out-Null

# client-dc-kerberos-udp (required): Service ticket for the AZUREADSSOACC account
# From office
New-NetFirewallRule -DisplayName 'hybridports: client-dc-kerberos-udp' -Description 'client-dc-kerberos-udp (required): Service ticket for the AZUREADSSOACC account' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 88 -RemoteAddress '10.20.0.0/16' | Out-Null

# connect-dc-kerberos-udp, connect-dc-pta-kerberos-udp (required): Authenticate to the AD forest
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-kerberos-udp, connect-dc-pta-kerberos-udp' -Description 'connect-dc-kerberos-udp, connect-dc-pta-kerberos-udp (required): Authenticate to the AD forest' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 88 -RemoteAddress '10.0.1.10' | Out-Null

# pta-agent-dc-pta-kerberos-udp (required): Validate the user's password with AD (network logon)
# From pta01, pta02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-kerberos-udp' -Description 'pta-agent-dc-pta-kerberos-udp (required): Validate the user''s password with AD (network logon)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 88 -RemoteAddress '10.0.1.21', '10.0.1.22' | Out-Null

# connect-dc-ntp (optional): Time synchronisation; Kerberos depends on synchronised clocks
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-ntp' -Description 'connect-dc-ntp (optional): Time synchronisation; Kerberos depends on synchronised clocks' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 123 -RemoteAddress '10.0.1.10' | Out-Null

# client-dc-ldap-udp (required): DC locator LDAP ping
# From office
New-NetFirewallRule -DisplayName 'hybridports: client-dc-ldap-udp' -Description 'client-dc-ldap-udp (required): DC locator LDAP ping' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 389 -RemoteAddress '10.20.0.0/16' | Out-Null

# connect-dc-ldap-udp, connect-dc-pta-ldap-udp (required): DC locator LDAP ping (connectionless
#   LDAP) used to find the forest and its DCs
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-ldap-udp, connect-dc-pta-ldap-udp' -Description 'connect-dc-ldap-udp, connect-dc-pta-ldap-udp (required): DC locator LDAP ping (connectionless LDAP) used to find the forest and its DCs' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 389 -RemoteAddress '10.0.1.10' | Out-Null

# pta-agent-dc-pta-ldap-udp (required): DC locator LDAP ping
# From pta01, pta02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-ldap-udp' -Description 'pta-agent-dc-pta-ldap-udp (required): DC locator LDAP ping' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 389 -RemoteAddress '10.0.1.21', '10.0.1.22' | Out-Null

# connect-dc-kpasswd-udp (optional): Machine and user password changes
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-kpasswd-udp' -Description 'connect-dc-kpasswd-udp (optional): Machine and user password changes' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 464 -RemoteAddress '10.0.1.10' | Out-Null

# ---- Outbound (3 planned rules) ----

# dc-entra-health-http (required): Microsoft web site over plain HTTP (certificate downloads)
# To www.microsoft.com
New-NetFirewallRule -DisplayName 'hybridports: dc-entra-health-http' -Description 'dc-entra-health-http (required): Microsoft web site over plain HTTP (certificate downloads) [to any address: www.microsoft.com]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 80 -RemoteAddress Any | Out-Null

# dc-entra-health-https (required): Connect Health service and its storage / Azure Service Bus
#   over HTTPS (the fallback for 5671 and all current agents need) / Sign-in page content and MFA
#   assets / Agent auto-update / Sign-in for agent registration and token refresh / Azure
#   management and policy key services; Microsoft web site / Discovery during registration only
# To *.aadconnecthealth.azure.com, *.adhybridhealth.azure.com, *.blob.core.windows.net,
#   *.servicebus.windows.net, aadcdn.msauth.net, aadcdn.msftauth.net, autoupdate.msappproxy.net,
#   login.microsoftonline.com, login.windows.net, management.azure.com,
#   policykeyservice.dc.ad.msft.net, secure.aadcdn.microsoftonline-p.com, www.microsoft.com,
#   www.office.com
New-NetFirewallRule -DisplayName 'hybridports: dc-entra-health-https' -Description 'dc-entra-health-https (required): Connect Health service and its storage / Azure Service Bus over HTTPS (the fallback for 5671 and all current agents need) / Sign-in page content and MFA assets / Agent auto-update / Sign-in for agent registration and token refresh / Azure management and policy key services; Microsoft web site / Discovery during registration only [to any address: *.aadconnecthealth.azure.com, *.adhybridhealth.azure.com, *.blob.core.windows.net, *.servicebus.windows.net, aadcdn.msauth.net, aadcdn.msftauth.net, autoupdate.msappproxy.net, login.microsoftonline.com, login.windows.net, management.azure.com, policykeyservice.dc.ad.msft.net, secure.aadcdn.microsoftonline-p.com, www.microsoft.com, www.office.com]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress Any | Out-Null

# dc-entra-health-amqp (optional): Azure Service Bus over AMQP 1.0 on TLS; not needed by the
#   latest agents, which fall back to 443
# To *.servicebus.windows.net
New-NetFirewallRule -DisplayName 'hybridports: dc-entra-health-amqp' -Description 'dc-entra-health-amqp (optional): Azure Service Bus over AMQP 1.0 on TLS; not needed by the latest agents, which fall back to 443 [to any address: *.servicebus.windows.net]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 5671 -RemoteAddress Any | Out-Null
