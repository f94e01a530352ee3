#!/usr/bin/env bash
# Installs the real peers the interop tests run against (Debian packages): SIPp
# (sip-tester), baresip, linphone's command-line client, Kamailio with its TLS module
# (kamailio-tls-modules, for the tests with Kamailio listening on TLS) and its WebSocket
# module (kamailio-websocket-modules, for ws and wss), dnsmasq as the nameserver of the DNS
# tests (dnsmasq-base, the program alone, whose installation starts no service; the dnsmasq
# package's would take port 53), and for the browser test Chromium and Node with the npm
# packages of tests/interop/browser (JsSIP, esbuild, playwright-core; playwright drives
# Debian's Chromium, it downloads no browser). Each is installed only when missing; the
# package index is refreshed only when a package is not found.
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
dpkg-query -W -f='${Status}' kamailio-websocket-modules 2> /dev/null | grep -q 'ok installed' \
  || need+=(kamailio-websocket-modules)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node > /dev/null || need+=(nodejs)
command -v npm > /dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null; }
fi

# The browser client's npm packages, as package-lock.json pins them; again only when the
# lock changed since the last install (a copy of it marks what node_modules holds).
browser="$(dirname "$0")/browser"
stamp="$browser/node_modules/.installed-package-lock.json"
if ! cmp -s "$browser/package-lock.json" "$stamp" 2> /dev/null; then
  (cd "$browser" && npm ci --no-audit --no-fund --silent)
  cp "$browser/package-lock.json" "$stamp"
fi
