# hybridports windows rules for adfs-farm, host dc01
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

# ---- Inbound (30 planned rules) ----

# adfs-dc-icmp (optional): LDAP keep-alive ping, SMB redirector / DFS ping
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-icmp' -Description 'adfs-dc-icmp (optional): LDAP keep-alive ping, SMB redirector / DFS ping' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol ICMPv4 -IcmpType 8 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-dc-icmp (optional): Reachability ping of the AD connectivity tool; LDAP client
#   keep-alive ping while a request is outstanding
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-icmp' -Description 'connect-dc-icmp (optional): Reachability ping of the AD connectivity tool; LDAP client keep-alive ping while a request is outstanding' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol ICMPv4 -IcmpType 8 -RemoteAddress '10.0.1.10' | Out-Null

# adfs-dc-dns-tcp (optional): Name resolution and DC location
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-dns-tcp' -Description 'adfs-dc-dns-tcp (optional): Name resolution and DC location' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 53 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-dc-dns-tcp (required): Resolve names in the target forest (TCP for large answers)
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-dns-tcp' -Description 'connect-dc-dns-tcp (required): Resolve names in the target forest (TCP for large answers)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 53 -RemoteAddress '10.0.1.10' | Out-Null

# wap-dc-dns-tcp (required): Resolve the federation service name to the internal farm / load
#   balancer
# From wap01, wap02
New-NetFirewallRule -DisplayName 'hybridports: wap-dc-dns-tcp' -Description 'wap-dc-dns-tcp (required): Resolve the federation service name to the internal farm / load balancer' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 53 -RemoteAddress '192.0.2.10', '192.0.2.11' | Out-Null

# adfs-dc-kerberos-tcp (optional): Authentication (Windows Integrated Authentication; service
#   account with SPN HOST/<adfs_service_name>)
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-kerberos-tcp' -Description 'adfs-dc-kerberos-tcp (optional): Authentication (Windows Integrated Authentication; service account with SPN HOST/<adfs_service_name>)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 88 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-dc-kerberos-tcp (required): Authenticate to the AD forest (TCP for large tickets)
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-kerberos-tcp' -Description 'connect-dc-kerberos-tcp (required): Authenticate to the AD forest (TCP for large tickets)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 88 -RemoteAddress '10.0.1.10' | Out-Null

# adfs-dc-rpc-epm (optional): RPC endpoint mapper (Netlogon, LSA, SAM)
# From adfs01, adfs02
# LocalPort RPCEPMap instead of 135: the endpoint mapper, paired with the RPC rule.
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-rpc-epm' -Description 'adfs-dc-rpc-epm (optional): RPC endpoint mapper (Netlogon, LSA, SAM)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort RPCEPMap -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-dc-rpc-epm (required): RPC endpoint mapper: hands out the DC's dynamic RPC port
#   (directory replication interface for password hash sync)
# From sync01
# LocalPort RPCEPMap instead of 135: the endpoint mapper, paired with the RPC rule.
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-rpc-epm' -Description 'connect-dc-rpc-epm (required): RPC endpoint mapper: hands out the DC''s dynamic RPC port (directory replication interface for password hash sync)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort RPCEPMap -RemoteAddress '10.0.1.10' | Out-Null

# adfs-dc-ldap-tcp (optional): Directory access (LDAP-based claims need a writable DC)
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-ldap-tcp' -Description 'adfs-dc-ldap-tcp (optional): Directory access (LDAP-based claims need a writable DC)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 389 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-dc-ldap-tcp (required): Import from and export to Active Directory (Kerberos signing and
#   sealing)
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-ldap-tcp' -Description 'connect-dc-ldap-tcp (required): Import from and export to Active Directory (Kerberos signing and sealing)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 389 -RemoteAddress '10.0.1.10' | Out-Null

# adfs-dc-smb (optional): Group Policy, SYSVOL
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-smb' -Description 'adfs-dc-smb (optional): Group Policy, SYSVOL' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 445 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# adfs-dc-kpasswd-tcp (optional): Machine and user password changes
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-kpasswd-tcp' -Description 'adfs-dc-kpasswd-tcp (optional): Machine and user password changes' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 464 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-dc-kpasswd-tcp (optional): Machine and user password changes
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-kpasswd-tcp' -Description 'connect-dc-kpasswd-tcp (optional): Machine and user password changes' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 464 -RemoteAddress '10.0.1.10' | Out-Null

# adfs-dc-ldaps (optional): Directory access over TLS
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-ldaps' -Description 'adfs-dc-ldaps (optional): Directory access over TLS' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 636 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# adfs-dc-gc (optional): Forest-wide lookups
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-gc' -Description 'adfs-dc-gc (optional): Forest-wide lookups' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 3268 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# adfs-dc-gc-ssl (optional): Forest-wide lookups over TLS
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-gc-ssl' -Description 'adfs-dc-gc-ssl (optional): Forest-wide lookups over TLS' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 3269 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# adfs-dc-rpc-dynamic (optional): Dynamic RPC server ports of the DC (Netlogon, LSA, SAM)
# From adfs01, adfs02
# LocalPort RPC instead of 49152-65535: only the dynamic ports the endpoint mapper assigned pass.
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-rpc-dynamic' -Description 'adfs-dc-rpc-dynamic (optional): Dynamic RPC server ports of the DC (Netlogon, LSA, SAM)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort RPC -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-dc-rpc-dynamic (required): Dynamic RPC server ports of the DC (directory replication,
#   Netlogon, LSA, SAM)
# From sync01
# LocalPort RPC instead of 49152-65535: only the dynamic ports the endpoint mapper assigned pass.
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-rpc-dynamic' -Description 'connect-dc-rpc-dynamic (required): Dynamic RPC server ports of the DC (directory replication, Netlogon, LSA, SAM)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort RPC -RemoteAddress '10.0.1.10' | Out-Null

# adfs-dc-dns-udp (optional): Name resolution and DC location
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-dns-udp' -Description 'adfs-dc-dns-udp (optional): Name resolution and DC location' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 53 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-dc-dns-udp (required): Resolve names in the target forest (SRV lookup for DC location)
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-dns-udp' -Description 'connect-dc-dns-udp (required): Resolve names in the target forest (SRV lookup for DC location)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 53 -RemoteAddress '10.0.1.10' | Out-Null

# wap-dc-dns-udp (required): Resolve the federation service name to the internal farm / load
#   balancer
# From wap01, wap02
New-NetFirewallRule -DisplayName 'hybridports: wap-dc-dns-udp' -Description 'wap-dc-dns-udp (required): Resolve the federation service name to the internal farm / load balancer' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 53 -RemoteAddress '192.0.2.10', '192.0.2.11' | Out-Null

# adfs-dc-kerberos-udp (optional): Authentication
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-kerberos-udp' -Description 'adfs-dc-kerberos-udp (optional): Authentication' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 88 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-dc-kerberos-udp (required): Authenticate to the AD forest
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-kerberos-udp' -Description 'connect-dc-kerberos-udp (required): Authenticate to the AD forest' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 88 -RemoteAddress '10.0.1.10' | Out-Null

# adfs-dc-ntp (optional): Time synchronisation
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-ntp' -Description 'adfs-dc-ntp (optional): Time synchronisation' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 123 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-dc-ntp (optional): Time synchronisation; Kerberos depends on synchronised clocks
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-ntp' -Description 'connect-dc-ntp (optional): Time synchronisation; Kerberos depends on synchronised clocks' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 123 -RemoteAddress '10.0.1.10' | Out-Null

# adfs-dc-ldap-udp (optional): DC locator LDAP ping
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-ldap-udp' -Description 'adfs-dc-ldap-udp (optional): DC locator LDAP ping' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 389 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-dc-ldap-udp (required): DC locator LDAP ping (connectionless LDAP) used to find the
#   forest and its DCs
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-ldap-udp' -Description 'connect-dc-ldap-udp (required): DC locator LDAP ping (connectionless LDAP) used to find the forest and its DCs' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 389 -RemoteAddress '10.0.1.10' | Out-Null

# adfs-dc-kpasswd-udp (optional): Machine and user password changes
# From adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-kpasswd-udp' -Description 'adfs-dc-kpasswd-udp (optional): Machine and user password changes' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol UDP -LocalPort 464 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

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
