# hybridports windows rules for adfs-farm, host campus
# Run in an elevated PowerShell on each machine of campus (10.30.0.0/16).
# Idempotent: it first removes every rule of the group 'hybridports', then adds the planned rules
#   again. Every rule names its catalog ids and purposes.
# Windows Firewall blocks unsolicited inbound traffic by default, so the inbound rules are what
#   this host accepts. Most estates allow all outbound traffic: the outbound rules only matter
#   where outbound is blocked by default (Set-NetFirewallProfile -DefaultOutboundAction Block).
#   This script changes no profile setting.
# The firewall is stateful: replies to allowed connections pass.
$ErrorActionPreference = 'Stop'
Get-NetFirewallRule -Group 'hybridports' -ErrorAction SilentlyContinue | Remove-NetFirewallRule

# ---- Inbound (0 planned rules) ----
# (no inbound flows are planned for this host)

# ---- Outbound (1 planned rule) ----

# client-adfs-https, client-adfs-certauth-https (required): Intranet sign-in against AD FS
# To adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: client-adfs-https, client-adfs-certauth-https' -Description 'client-adfs-https, client-adfs-certauth-https (required): Intranet sign-in against AD FS' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null
