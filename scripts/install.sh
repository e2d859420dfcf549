#!/usr/bin/env bash
# Installs what Pacata needs into ./.venv: the system packages first (apt, only those missing),
# then the Python package in editable mode. `--test` adds the test tools.
# Safe to run again; it does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# System packages: Python's venv, and (for the tests) the tools the network tests drive.
apt_packages=(python3-venv)
if [ "$want_test" = 1 ]; then
    apt_packages+=(procps)
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
    else
        echo "install.sh: please install as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
extra=""
[ "$want_test" = 1 ] && extra="[test]"
.venv/bin/pip install --quiet --disable-pip-version-check -e ".${extra}"
