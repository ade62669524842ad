# hybridports windows rules for adfs-farm, host wap01
# Run in an elevated PowerShell on wap01 (192.0.2.10).
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

# ---- Inbound (6 planned rules) ----

# connect-wap-http (optional): Printed purpose is CRL download (text copied from Table 2); most
#   likely the Connect server's own CRL checks, already covered by connect-entra-crl-http
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-wap-http' -Description 'connect-wap-http (optional): Printed purpose is CRL download (text copied from Table 2); most likely the Connect server''s own CRL checks, already covered by connect-entra-crl-http' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 80 -RemoteAddress '10.0.1.10' | Out-Null

# client-wap-https, client-wap-certauth-https (required): All extranet federation traffic (printed
#   as 'device authentication')
# From internet
New-NetFirewallRule -DisplayName 'hybridports: client-wap-https, client-wap-certauth-https' -Description 'client-wap-https, client-wap-certauth-https (required): All extranet federation traffic (printed as ''device authentication'')' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 443 -RemoteAddress '0.0.0.0-255.255.255.255' | Out-Null

# connect-wap-https (required): Wizard checks the federation service through the proxy
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-wap-https' -Description 'connect-wap-https (required): Wizard checks the federation service through the proxy' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 443 -RemoteAddress '10.0.1.10' | Out-Null

# entra-wap-https (required): Inbound from Microsoft's cloud to
#   /adfs/services/trust/2005/usernamemixed, /adfs/services/trust/13/usernamemixed,
#   /adfs/services/trust/mex and /adfs/ls/federationmetadata/2007-06/federationmetadata.xml
# From Microsoft cloud
New-NetFirewallRule -DisplayName 'hybridports: entra-wap-https' -Description 'entra-wap-https (required): Inbound from Microsoft''s cloud to /adfs/services/trust/2005/usernamemixed, /adfs/services/trust/13/usernamemixed, /adfs/services/trust/mex and /adfs/ls/federationmetadata/2007-06/federationmetadata.xml [from any address: Microsoft cloud]' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 443 -RemoteAddress Any | Out-Null

# connect-wap-winrm (required): WinRM listener used by the wizard (and Server Manager) for remote
#   configuration of WAP
# From sync01
New-NetFirewallRule -DisplayName 'hybridports: connect-wap-winrm' -Description 'connect-wap-winrm (required): WinRM listener used by the wizard (and Server Manager) for remote configuration of WAP' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 5985 -RemoteAddress '10.0.1.10' | Out-Null

# client-wap-certauth-49443 (required): User certificate authentication: TLS on which the server
#   asks for a client certificate
# From internet
New-NetFirewallRule -DisplayName 'hybridports: client-wap-certauth-49443' -Description 'client-wap-certauth-49443 (required): User certificate authentication: TLS on which the server asks for a client certificate' -Group 'hybridports' -Direction Inbound -Action Allow -Protocol TCP -LocalPort 49443 -RemoteAddress '0.0.0.0-255.255.255.255' | Out-Null

# ---- Outbound (6 planned rules) ----

# wap-dc-dns-tcp (required): Resolve the federation service name to the internal farm / load
#   balancer
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: wap-dc-dns-tcp' -Description 'wap-dc-dns-tcp (required): Resolve the federation service name to the internal farm / load balancer' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 53 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# wap-entra-health-http (required): Microsoft web site over plain HTTP (certificate downloads)
# To www.microsoft.com
New-NetFirewallRule -DisplayName 'hybridports: wap-entra-health-http' -Description 'wap-entra-health-http (required): Microsoft web site over plain HTTP (certificate downloads) [to any address: www.microsoft.com]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 80 -RemoteAddress Any | Out-Null

# wap-adfs-https (required): Authentication traffic proxied to the farm, plus the proxy trust
# To adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: wap-adfs-https' -Description 'wap-adfs-https (required): Authentication traffic proxied to the farm, plus the proxy trust' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# wap-entra-health-https (required): Connect Health service and its storage / Azure Service Bus
#   over HTTPS (the fallback for 5671 and all current agents need) / Sign-in page content and MFA
#   assets / Agent auto-update / Sign-in for agent registration and token refresh / Azure
#   management and policy key services; Microsoft web site / Discovery during registration only
# To *.aadconnecthealth.azure.com, *.adhybridhealth.azure.com, *.blob.core.windows.net,
#   *.servicebus.windows.net, aadcdn.msauth.net, aadcdn.msftauth.net, autoupdate.msappproxy.net,
#   login.microsoftonline.com, login.windows.net, management.azure.com,
#   policykeyservice.dc.ad.msft.net, secure.aadcdn.microsoftonline-p.com, www.microsoft.com,
#   www.office.com
New-NetFirewallRule -DisplayName 'hybridports: wap-entra-health-https' -Description 'wap-entra-health-https (required): Connect Health service and its storage / Azure Service Bus over HTTPS (the fallback for 5671 and all current agents need) / Sign-in page content and MFA assets / Agent auto-update / Sign-in for agent registration and token refresh / Azure management and policy key services; Microsoft web site / Discovery during registration only [to any address: *.aadconnecthealth.azure.com, *.adhybridhealth.azure.com, *.blob.core.windows.net, *.servicebus.windows.net, aadcdn.msauth.net, aadcdn.msftauth.net, autoupdate.msappproxy.net, login.microsoftonline.com, login.windows.net, management.azure.com, policykeyservice.dc.ad.msft.net, secure.aadcdn.microsoftonline-p.com, www.microsoft.com, www.office.com]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress Any | Out-Null

# wap-entra-health-amqp (optional): Azure Service Bus over AMQP 1.0 on TLS; not needed by the
#   latest agents, which fall back to 443
# To *.servicebus.windows.net
New-NetFirewallRule -DisplayName 'hybridports: wap-entra-health-amqp' -Description 'wap-entra-health-amqp (optional): Azure Service Bus over AMQP 1.0 on TLS; not needed by the latest agents, which fall back to 443 [to any address: *.servicebus.windows.net]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 5671 -RemoteAddress Any | Out-Null

# wap-dc-dns-udp (required): Resolve the federation service name to the internal farm / load
#   balancer
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: wap-dc-dns-udp' -Description 'wap-dc-dns-udp (required): Resolve the federation service name to the internal farm / load balancer' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 53 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null
