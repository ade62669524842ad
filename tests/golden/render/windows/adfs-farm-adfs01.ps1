# hybridports windows rules for adfs-farm, host adfs01
# Run in an elevated PowerShell on adfs01 (10.0.3.10).
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
$ErrorActionPreference = 'Stop'
Get-NetFirewallRule -Group 'hybridports' -ErrorAction SilentlyContinue | Remove-NetFirewallRule

# ---- Inbound (7 planned rules) ----

# adfs-adfs-wid-http (required): WID secondaries pull the configuration from the primary
#   (Set-AdfsSyncProperties)
# From adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-adfs-wid-http' -Description 'adfs-adfs-wid-http (required): WID secondaries pull the configuration from the primary (Set-AdfsSyncProperties)' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 80 -RemoteAddress '10.0.3.11' | Out-Null

# connect-adfs-http (optional): Printed purpose is CRL download (text copied from Table 2); most
#   likely the Connect server's own CRL checks, already covered by connect-entra-crl-http
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-adfs-http' -Description 'connect-adfs-http (optional): Printed purpose is CRL download (text copied from Table 2); most likely the Connect server''s own CRL checks, already covered by connect-entra-crl-http' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 80 -RemoteAddress '10.0.1.10' | Out-Null

# adfs-adfs-health-https (required): Synthetic sign-in test the agent runs against its own farm
# From adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-adfs-health-https' -Description 'adfs-adfs-health-https (required): Synthetic sign-in test the agent runs against its own farm' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 443 -RemoteAddress '10.0.3.11' | Out-Null

# client-adfs-https, client-adfs-certauth-https (required): Intranet sign-in against AD FS
# From campus
New-NetFirewallRule -DisplayName 'hybridports: client-adfs-https, client-adfs-certauth-https' -Description 'client-adfs-https, client-adfs-certauth-https (required): Intranet sign-in against AD FS' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 443 -RemoteAddress '10.30.0.0/16' | Out-Null

# connect-adfs-https (required): Wizard checks and configures the federation service
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-adfs-https' -Description 'connect-adfs-https (required): Wizard checks and configures the federation service' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 443 -RemoteAddress '10.0.1.10' | Out-Null

# wap-adfs-https (required): Authentication traffic proxied to the farm, plus the proxy trust
# From wap01, wap02
New-NetFirewallRule -DisplayName 'hybridports: wap-adfs-https' -Description 'wap-adfs-https (required): Authentication traffic proxied to the farm, plus the proxy trust' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 443 -RemoteAddress '192.0.2.10', '192.0.2.11' | Out-Null

# connect-adfs-winrm (required): WinRM listener used by the wizard for remote configuration of AD
#   FS
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-adfs-winrm' -Description 'connect-adfs-winrm (required): WinRM listener used by the wizard for remote configuration of AD FS' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 5985 -RemoteAddress '10.0.1.10' | Out-Null

# ---- Outbound (21 planned rules) ----

# adfs-dc-icmp (optional): LDAP keep-alive ping, SMB redirector / DFS ping
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-icmp' -Description 'adfs-dc-icmp (optional): LDAP keep-alive ping, SMB redirector / DFS ping' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol ICMPv4 -IcmpType 8 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-dns-tcp (optional): Name resolution and DC location
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-dns-tcp' -Description 'adfs-dc-dns-tcp (optional): Name resolution and DC location' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 53 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-adfs-wid-http (required): WID secondaries pull the configuration from the primary
#   (Set-AdfsSyncProperties)
# To adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-adfs-wid-http' -Description 'adfs-adfs-wid-http (required): WID secondaries pull the configuration from the primary (Set-AdfsSyncProperties)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 80 -RemoteAddress '10.0.3.11' | Out-Null

# adfs-entra-health-http (required): Microsoft web site over plain HTTP (certificate downloads)
# To www.microsoft.com
New-NetFirewallRule -DisplayName 'hybridports: adfs-entra-health-http' -Description 'adfs-entra-health-http (required): Microsoft web site over plain HTTP (certificate downloads) [to any address: www.microsoft.com]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 80 -RemoteAddress Any | Out-Null

# adfs-dc-kerberos-tcp (optional): Authentication (Windows Integrated Authentication; service
#   account with SPN HOST/<adfs_service_name>)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-kerberos-tcp' -Description 'adfs-dc-kerberos-tcp (optional): Authentication (Windows Integrated Authentication; service account with SPN HOST/<adfs_service_name>)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 88 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-rpc-epm (optional): RPC endpoint mapper (Netlogon, LSA, SAM)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-rpc-epm' -Description 'adfs-dc-rpc-epm (optional): RPC endpoint mapper (Netlogon, LSA, SAM)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 135 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-ldap-tcp (optional): Directory access (LDAP-based claims need a writable DC)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-ldap-tcp' -Description 'adfs-dc-ldap-tcp (optional): Directory access (LDAP-based claims need a writable DC)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 389 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-adfs-health-https (required): Synthetic sign-in test the agent runs against its own farm
# To adfs02
New-NetFirewallRule -DisplayName 'hybridports: adfs-adfs-health-https' -Description 'adfs-adfs-health-https (required): Synthetic sign-in test the agent runs against its own farm' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress '10.0.3.11' | Out-Null

# adfs-entra-health-https (required): Connect Health service and its storage / Azure Service Bus
#   over HTTPS (the fallback for 5671 and all current agents need) / Sign-in page content and MFA
#   assets / Agent auto-update / Sign-in for agent registration and token refresh / Azure
#   management and policy key services; Microsoft web site / Discovery during registration only
# To *.aadconnecthealth.azure.com, *.adhybridhealth.azure.com, *.blob.core.windows.net,
#   *.servicebus.windows.net, aadcdn.msauth.net, aadcdn.msftauth.net, autoupdate.msappproxy.net,
#   login.microsoftonline.com, login.windows.net, management.azure.com,
#   policykeyservice.dc.ad.msft.net, secure.aadcdn.microsoftonline-p.com, www.microsoft.com,
#   www.office.com
New-NetFirewallRule -DisplayName 'hybridports: adfs-entra-health-https' -Description 'adfs-entra-health-https (required): Connect Health service and its storage / Azure Service Bus over HTTPS (the fallback for 5671 and all current agents need) / Sign-in page content and MFA assets / Agent auto-update / Sign-in for agent registration and token refresh / Azure management and policy key services; Microsoft web site / Discovery during registration only [to any address: *.aadconnecthealth.azure.com, *.adhybridhealth.azure.com, *.blob.core.windows.net, *.servicebus.windows.net, aadcdn.msauth.net, aadcdn.msftauth.net, autoupdate.msappproxy.net, login.microsoftonline.com, login.windows.net, management.azure.com, policykeyservice.dc.ad.msft.net, secure.aadcdn.microsoftonline-p.com, www.microsoft.com, www.office.com]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress Any | Out-Null

# adfs-dc-smb (optional): Group Policy, SYSVOL
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-smb' -Description 'adfs-dc-smb (optional): Group Policy, SYSVOL' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 445 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-kpasswd-tcp (optional): Machine and user password changes
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-kpasswd-tcp' -Description 'adfs-dc-kpasswd-tcp (optional): Machine and user password changes' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 464 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-ldaps (optional): Directory access over TLS
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-ldaps' -Description 'adfs-dc-ldaps (optional): Directory access over TLS' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 636 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-gc (optional): Forest-wide lookups
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-gc' -Description 'adfs-dc-gc (optional): Forest-wide lookups' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 3268 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-gc-ssl (optional): Forest-wide lookups over TLS
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-gc-ssl' -Description 'adfs-dc-gc-ssl (optional): Forest-wide lookups over TLS' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 3269 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-entra-health-amqp (optional): Azure Service Bus over AMQP 1.0 on TLS; not needed by the
#   latest agents, which fall back to 443
# To *.servicebus.windows.net
New-NetFirewallRule -DisplayName 'hybridports: adfs-entra-health-amqp' -Description 'adfs-entra-health-amqp (optional): Azure Service Bus over AMQP 1.0 on TLS; not needed by the latest agents, which fall back to 443 [to any address: *.servicebus.windows.net]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 5671 -RemoteAddress Any | Out-Null

# adfs-dc-rpc-dynamic (optional): Dynamic RPC server ports of the DC (Netlogon, LSA, SAM)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-rpc-dynamic' -Description 'adfs-dc-rpc-dynamic (optional): Dynamic RPC server ports of the DC (Netlogon, LSA, SAM)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 49152-65535 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-dns-udp (optional): Name resolution and DC location
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-dns-udp' -Description 'adfs-dc-dns-udp (optional): Name resolution and DC location' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 53 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-kerberos-udp (optional): Authentication
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-kerberos-udp' -Description 'adfs-dc-kerberos-udp (optional): Authentication' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 88 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-ntp (optional): Time synchronisation
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-ntp' -Description 'adfs-dc-ntp (optional): Time synchronisation' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 123 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-ldap-udp (optional): DC locator LDAP ping
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-ldap-udp' -Description 'adfs-dc-ldap-udp (optional): DC locator LDAP ping' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 389 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# adfs-dc-kpasswd-udp (optional): Machine and user password changes
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: adfs-dc-kpasswd-udp' -Description 'adfs-dc-kpasswd-udp (optional): Machine and user password changes' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 464 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null
