#!/usr/bin/env bash
# Installs the real peers the interop tests run against (Debian packages): SIPp
# (sip-tester), baresip, linphone's command-line client, Kamailio and its TLS module
# (kamailio-tls-modules, for the tests with Kamailio listening on TLS), and dnsmasq as the
# nameserver of the DNS tests: dnsmasq-base, the program alone, whose installation starts no
# service (the dnsmasq package's would take port 53). Each is installed only when missing;
# the package index is refreshed only when a package is not found.
set -euo pipefail

need=()
command -v sipp > /dev/null || need+=(sip-tester)
command -v baresip > /dev/null || need+=(baresip)
command -v linphonec > /dev/null || need+=(linphone-cli)
command -v kamailio > /dev/null || need+=(kamailio)
command -v dnsmasq > /dev/null || need+=(dnsmasq-base)
# A module, not a command: ask dpkg whether the package is installed.
dpkg-query -W -f='${Status}' kamailio-tls-modules 2> /dev/null | grep -q 'ok installed' \
  || need+=(kamailio-tls-modules)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends "${need[@]}" \
  || { apt-get update && apt-get install -y --no-install-recommends "${need[@]}"; }
