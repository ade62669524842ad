# hybridports windows rules for adfs-farm, host sync01
# Run in an elevated PowerShell on sync01 (10.0.1.10).
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

# ---- Outbound (22 planned rules) ----

# connect-dc-icmp (optional): Reachability ping of the AD connectivity tool; LDAP client
#   keep-alive ping while a request is outstanding
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-icmp' -Description 'connect-dc-icmp (optional): Reachability ping of the AD connectivity tool; LDAP client keep-alive ping while a request is outstanding' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol ICMPv4 -IcmpType 8 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# connect-dc-dns-tcp (required): Resolve names in the target forest (TCP for large answers)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-dns-tcp' -Description 'connect-dc-dns-tcp (required): Resolve names in the target forest (TCP for large answers)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 53 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# connect-adfs-http (optional): Printed purpose is CRL download (text copied from Table 2); most
#   likely the Connect server's own CRL checks, already covered by connect-entra-crl-http
# To adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: connect-adfs-http' -Description 'connect-adfs-http (optional): Printed purpose is CRL download (text copied from Table 2); most likely the Connect server''s own CRL checks, already covered by connect-entra-crl-http' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 80 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-entra-crl-http, connect-entra-health-http (required): CRL and certificate verification
#   (minimum list) / CRL, OCSP and CA certificate hosts (Microsoft 365 identity sets 125 and 84) /
#   Certificate trust list download (part of the CRL/OCSP/CTL union)
# To *.digicert.cn, *.entrust.net, *.geotrust.com, *.omniroot.com, *.public-trust.com,
#   *.symcb.com, *.symcd.com, *.verisign.com, *.verisign.net, apps.identrust.com,
#   cacerts.digicert.com, cert.int-x3.letsencrypt.org, crl.globalsign.com, crl.globalsign.net,
#   crl.identrust.com, crl.microsoft.com, crl3.digicert.com, crl4.digicert.com,
#   ctldl.windowsupdate.com, isrg.trustid.ocsp.identrust.com, mscrl.microsoft.com,
#   ocsp.digicert.com, ocsp.globalsign.com, ocsp.msocsp.com, ocsp2.globalsign.com,
#   ocspx.digicert.com, oneocsp.microsoft.com, root-c3-ca2-2009.ocsp.d-trust.net,
#   secure.globalsign.com, www.d-trust.net, www.digicert.com, www.microsoft.com
New-NetFirewallRule -DisplayName 'hybridports: connect-entra-crl-http, connect-entra-health-http' -Description 'connect-entra-crl-http, connect-entra-health-http (required): CRL and certificate verification (minimum list) / CRL, OCSP and CA certificate hosts (Microsoft 365 identity sets 125 and 84) / Certificate trust list download (part of the CRL/OCSP/CTL union) [to any address: *.digicert.cn, *.entrust.net, *.geotrust.com, *.omniroot.com, *.public-trust.com, *.symcb.com, *.symcd.com, *.verisign.com, *.verisign.net, apps.identrust.com, cacerts.digicert.com, cert.int-x3.letsencrypt.org, crl.globalsign.com, crl.globalsign.net, crl.identrust.com, crl.microsoft.com, crl3.digicert.com, crl4.digicert.com, ctldl.windowsupdate.com, isrg.trustid.ocsp.identrust.com, mscrl.microsoft.com, ocsp.digicert.com, ocsp.globalsign.com, ocsp.msocsp.com, ocsp2.globalsign.com, ocspx.digicert.com, oneocsp.microsoft.com, root-c3-ca2-2009.ocsp.d-trust.net, secure.globalsign.com, www.d-trust.net, www.digicert.com, www.microsoft.com]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 80 -RemoteAddress Any | Out-Null

# connect-wap-http (optional): Printed purpose is CRL download (text copied from Table 2); most
#   likely the Connect server's own CRL checks, already covered by connect-entra-crl-http
# To wap01, wap02
New-NetFirewallRule -DisplayName 'hybridports: connect-wap-http' -Description 'connect-wap-http (optional): Printed purpose is CRL download (text copied from Table 2); most likely the Connect server''s own CRL checks, already covered by connect-entra-crl-http' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 80 -RemoteAddress '192.0.2.10', '192.0.2.11' | Out-Null

# connect-dc-kerberos-tcp (required): Authenticate to the AD forest (TCP for large tickets)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-kerberos-tcp' -Description 'connect-dc-kerberos-tcp (required): Authenticate to the AD forest (TCP for large tickets)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 88 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# connect-dc-rpc-epm (required): RPC endpoint mapper: hands out the DC's dynamic RPC port
#   (directory replication interface for password hash sync)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-rpc-epm' -Description 'connect-dc-rpc-epm (required): RPC endpoint mapper: hands out the DC''s dynamic RPC port (directory replication interface for password hash sync)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 135 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# connect-dc-ldap-tcp (required): Import from and export to Active Directory (Kerberos signing and
#   sealing)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-ldap-tcp' -Description 'connect-dc-ldap-tcp (required): Import from and export to Active Directory (Kerberos signing and sealing)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 389 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# connect-adfs-https (required): Wizard checks and configures the federation service
# To adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: connect-adfs-https' -Description 'connect-adfs-https (required): Wizard checks and configures the federation service' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-entra-health-https, connect-entra-mfa-https (required): Connect Health service and its
#   storage / Azure Service Bus over HTTPS (the fallback for 5671 and all current agents need) /
#   Sign-in page content and MFA assets / Agent auto-update / Azure management and policy key
#   services; Microsoft web site / Discovery during registration only
# To *.aadconnecthealth.azure.com, *.adhybridhealth.azure.com, *.blob.core.windows.net,
#   *.servicebus.windows.net, aadcdn.msauth.net, aadcdn.msftauth.net, autoupdate.msappproxy.net,
#   management.azure.com, policykeyservice.dc.ad.msft.net, secure.aadcdn.microsoftonline-p.com,
#   www.microsoft.com, www.office.com
New-NetFirewallRule -DisplayName 'hybridports: connect-entra-health-https, connect-entra-mfa-https' -Description 'connect-entra-health-https, connect-entra-mfa-https (required): Connect Health service and its storage / Azure Service Bus over HTTPS (the fallback for 5671 and all current agents need) / Sign-in page content and MFA assets / Agent auto-update / Azure management and policy key services; Microsoft web site / Discovery during registration only [to any address: *.aadconnecthealth.azure.com, *.adhybridhealth.azure.com, *.blob.core.windows.net, *.servicebus.windows.net, aadcdn.msauth.net, aadcdn.msftauth.net, autoupdate.msappproxy.net, management.azure.com, policykeyservice.dc.ad.msft.net, secure.aadcdn.microsoftonline-p.com, www.microsoft.com, www.office.com]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress Any | Out-Null

# connect-entra-https, connect-entra-health-https (required): Various Azure services / Directory
#   configuration, import and export (regional anchor / relay hosts included) / Directory-sync
#   discovery endpoints (the real endpoints are regional *.microsoftonline.com hosts) / Sign-in
#   front end used by the wizard and the sync engine (observed traffic)
# To *.graph.windows.net, *.management.core.windows.net, *.microsoftonline.com,
#   adminwebservice.microsoftonline.com, login.microsoftonline.com, login.windows.net,
#   provisioningapi.microsoftonline.com
New-NetFirewallRule -DisplayName 'hybridports: connect-entra-https, connect-entra-health-https' -Description 'connect-entra-https, connect-entra-health-https (required): Various Azure services / Directory configuration, import and export (regional anchor / relay hosts included) / Directory-sync discovery endpoints (the real endpoints are regional *.microsoftonline.com hosts) / Sign-in front end used by the wizard and the sync engine (observed traffic) [to any address: *.graph.windows.net, *.management.core.windows.net, *.microsoftonline.com, adminwebservice.microsoftonline.com, login.microsoftonline.com, login.windows.net, provisioningapi.microsoftonline.com]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress Any | Out-Null

# connect-wap-https (required): Wizard checks the federation service through the proxy
# To wap01, wap02
New-NetFirewallRule -DisplayName 'hybridports: connect-wap-https' -Description 'connect-wap-https (required): Wizard checks the federation service through the proxy' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 443 -RemoteAddress '192.0.2.10', '192.0.2.11' | Out-Null

# connect-dc-kpasswd-tcp (optional): Machine and user password changes
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-kpasswd-tcp' -Description 'connect-dc-kpasswd-tcp (optional): Machine and user password changes' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 464 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# connect-entra-health-amqp (optional): Azure Service Bus over AMQP 1.0 on TLS; not needed by the
#   latest agents, which fall back to 443
# To *.servicebus.windows.net
New-NetFirewallRule -DisplayName 'hybridports: connect-entra-health-amqp' -Description 'connect-entra-health-amqp (optional): Azure Service Bus over AMQP 1.0 on TLS; not needed by the latest agents, which fall back to 443 [to any address: *.servicebus.windows.net]' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 5671 -RemoteAddress Any | Out-Null

# connect-adfs-winrm (required): WinRM listener used by the wizard for remote configuration of AD
#   FS
# To adfs01, adfs02
New-NetFirewallRule -DisplayName 'hybridports: connect-adfs-winrm' -Description 'connect-adfs-winrm (required): WinRM listener used by the wizard for remote configuration of AD FS' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 5985 -RemoteAddress '10.0.3.10', '10.0.3.11' | Out-Null

# connect-wap-winrm (required): WinRM listener used by the wizard (and Server Manager) for remote
#   configuration of WAP
# To wap01, wap02
New-NetFirewallRule -DisplayName 'hybridports: connect-wap-winrm' -Description 'connect-wap-winrm (required): WinRM listener used by the wizard (and Server Manager) for remote configuration of WAP' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 5985 -RemoteAddress '192.0.2.10', '192.0.2.11' | Out-Null

# connect-dc-rpc-dynamic (required): Dynamic RPC server ports of the DC (directory replication,
#   Netlogon, LSA, SAM)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-rpc-dynamic' -Description 'connect-dc-rpc-dynamic (required): Dynamic RPC server ports of the DC (directory replication, Netlogon, LSA, SAM)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol TCP -RemotePort 49152-65535 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# connect-dc-dns-udp (required): Resolve names in the target forest (SRV lookup for DC location)
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-dns-udp' -Description 'connect-dc-dns-udp (required): Resolve names in the target forest (SRV lookup for DC location)' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 53 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# connect-dc-kerberos-udp (required): Authenticate to the AD forest
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-kerberos-udp' -Description 'connect-dc-kerberos-udp (required): Authenticate to the AD forest' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 88 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# connect-dc-ntp (optional): Time synchronisation; Kerberos depends on synchronised clocks
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-ntp' -Description 'connect-dc-ntp (optional): Time synchronisation; Kerberos depends on synchronised clocks' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 123 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# connect-dc-ldap-udp (required): DC locator LDAP ping (connectionless LDAP) used to find the
#   forest and its DCs
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-ldap-udp' -Description 'connect-dc-ldap-udp (required): DC locator LDAP ping (connectionless LDAP) used to find the forest and its DCs' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 389 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null

# connect-dc-kpasswd-udp (optional): Machine and user password changes
# To dc01, dc02
New-NetFirewallRule -DisplayName 'hybridports: connect-dc-kpasswd-udp' -Description 'connect-dc-kpasswd-udp (optional): Machine and user password changes' -Group 'hybridports' -Direction Outbound -Action Allow -Protocol UDP -RemotePort 464 -RemoteAddress '10.0.2.10', '10.0.2.11' | Out-Null
