# hybridports windows rules for pta-sso, host office
# Run in an elevated PowerShell on each machine of office (10.20.0.0/16).
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

# ---- Outbound (6 planned rules) ----

# client-dc-dns-tcp (required): DC location before the Kerberos request
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: client-dc-dns-tcp' -Description 'client-dc-dns-tcp (required): DC location before the Kerberos request' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 53 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# client-dc-kerberos-tcp (required): Service ticket for the AZUREADSSOACC account
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: client-dc-kerberos-tcp' -Description 'client-dc-kerberos-tcp (required): Service ticket for the AZUREADSSOACC account' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 88 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# client-entra-sso-https (required): Seamless SSO sign-in: the Kerberos ticket is handed to Entra
#   ID
# To autologon.microsoftazuread-sso.com
New-NetFirewallRule -DisplayName 'hybridports: client-entra-sso-https' -Description 'client-entra-sso-https (required): Seamless SSO sign-in: the Kerberos ticket is handed to Entra ID [to any address: autologon.microsoftazuread-sso.com]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress Any | Out-Null

# client-dc-dns-udp (required): DC location before the Kerberos request
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: client-dc-dns-udp' -Description 'client-dc-dns-udp (required): DC location before the Kerberos request' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 53 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# client-dc-kerberos-udp (required): Service ticket for the AZUREADSSOACC account
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: client-dc-kerberos-udp' -Description 'client-dc-kerberos-udp (required): Service ticket for the AZUREADSSOACC account' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 88 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# client-dc-ldap-udp (required): DC locator LDAP ping
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: client-dc-ldap-udp' -Description 'client-dc-ldap-udp (required): DC locator LDAP ping' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 389 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null
