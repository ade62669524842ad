# hybridports windows rules for pta-sso, host pta01
# Run in an elevated PowerShell on pta01 (10.0.1.21).
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

# ---- Inbound (0 planned rules) ----
# (no inbound flows are planned for this host)

# ---- Outbound (13 planned rules) ----

# pta-agent-dc-pta-dns-tcp (required): DC location for the password check (LogonUser, network
#   logon)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-dns-tcp' -Description 'pta-agent-dc-pta-dns-tcp (required): DC location for the password check (LogonUser, network logon)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 53 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# pta-agent-entra-pta-crl-http (required): CRL/OCSP checks for TLS certificates; connector
#   auto-update / CRL hosts of an older revision of the PTA quick start (union planned, U8)
# To crl.microsoft.com, crl3.digicert.com, crl4.digicert.com, mscrl.microsoft.com,
#   ocsp.digicert.com, ocsp.msocsp.com, oneocsp.microsoft.com, root-c3-ca2-2009.ocsp.d-trust.net,
#   www.d-trust.net, www.microsoft.com
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-entra-pta-crl-http' -Description 'pta-agent-entra-pta-crl-http (required): CRL/OCSP checks for TLS certificates; connector auto-update / CRL hosts of an older revision of the PTA quick start (union planned, U8) [to any address: crl.microsoft.com, crl3.digicert.com, crl4.digicert.com, mscrl.microsoft.com, ocsp.digicert.com, ocsp.msocsp.com, oneocsp.microsoft.com, root-c3-ca2-2009.ocsp.d-trust.net, www.d-trust.net, www.microsoft.com]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 80 -RemoteAddress Any | Out-Null

# pta-agent-dc-pta-kerberos-tcp (required): Validate the user's password with AD (network logon)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-kerberos-tcp' -Description 'pta-agent-dc-pta-kerberos-tcp (required): Validate the user''s password with AD (network logon)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 88 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# pta-agent-dc-pta-rpc-epm (required): RPC endpoint mapper for Netlogon / LSA during network logon
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-rpc-epm' -Description 'pta-agent-dc-pta-rpc-epm (required): RPC endpoint mapper for Netlogon / LSA during network logon' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 135 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# pta-agent-dc-pta-ldap-tcp (required): Directory lookups during logon
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-ldap-tcp' -Description 'pta-agent-dc-pta-ldap-tcp (required): Directory lookups during logon' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 389 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# pta-agent-entra-pta-https (required): Connector service: start-up, feature on/off, registration,
#   updates, certificate renewal / Tenant Service Bus queue on which sign-in requests arrive
#   (mutual TLS)
# To *.msappproxy.net, *.servicebus.windows.net
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-entra-pta-https' -Description 'pta-agent-entra-pta-https (required): Connector service: start-up, feature on/off, registration, updates, certificate renewal / Tenant Service Bus queue on which sign-in requests arrive (mutual TLS) [to any address: *.msappproxy.net, *.servicebus.windows.net]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress Any | Out-Null

# pta-agent-entra-pta-registration-https (required): Initial agent registration
# To login.microsoftonline.com, login.windows.net
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-entra-pta-registration-https' -Description 'pta-agent-entra-pta-registration-https (required): Initial agent registration [to any address: login.microsoftonline.com, login.windows.net]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress Any | Out-Null

# pta-agent-dc-pta-smb (required): SMB as used by network logon (named pipes)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-smb' -Description 'pta-agent-dc-pta-smb (required): SMB as used by network logon (named pipes)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 445 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# pta-agent-entra-pta-status-http (optional): Status report every 10 minutes, only when 443 is
#   unavailable
# To *.msappproxy.net, *.servicebus.windows.net
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-entra-pta-status-http' -Description 'pta-agent-entra-pta-status-http (optional): Status report every 10 minutes, only when 443 is unavailable [to any address: *.msappproxy.net, *.servicebus.windows.net]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 8080 -RemoteAddress Any | Out-Null

# pta-agent-dc-pta-rpc-dynamic (required): Dynamic RPC server ports of the DC (Netlogon, LSA)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-rpc-dynamic' -Description 'pta-agent-dc-pta-rpc-dynamic (required): Dynamic RPC server ports of the DC (Netlogon, LSA)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 50000-50999 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# pta-agent-dc-pta-dns-udp (required): DC location for the password check (LogonUser, network
#   logon)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-dns-udp' -Description 'pta-agent-dc-pta-dns-udp (required): DC location for the password check (LogonUser, network logon)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 53 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# pta-agent-dc-pta-kerberos-udp (required): Validate the user's password with AD (network logon)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-kerberos-udp' -Description 'pta-agent-dc-pta-kerberos-udp (required): Validate the user''s password with AD (network logon)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 88 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# pta-agent-dc-pta-ldap-udp (required): DC locator LDAP ping
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: pta-agent-dc-pta-ldap-udp' -Description 'pta-agent-dc-pta-ldap-udp (required): DC locator LDAP ping' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 389 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null
