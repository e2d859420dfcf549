#!/usr/bin/env bash
# Installs everything, then runs a single-producer devnet node in the foreground:
# `pacatad --devnet` with the well-known devnet keys (public: DEVNET ONLY), producing a block
# every second. It prints where its API and explorer are ("Pacata devnet ready: API
# http://…/api/status, explorer http://…/").
# Extra arguments go to pacatad, e.g. `bash scripts/devnet.sh --rpc 127.0.0.1:9750`.
# Ctrl-C stops it cleanly; run it again and it continues from its tip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/pacatad --devnet "$@"
