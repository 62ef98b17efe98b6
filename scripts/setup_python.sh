#!/usr/bin/env bash
# The project's virtual environment (.venv) from the pinned requirements.
# Wheels are downloaded once into $MAAS_CACHE/wheels-<hash of the requirement files> and
# installed from there, so a fresh clone builds its .venv without the network.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$MAAS_ROOT"

req_hash=$(cat requirements.txt requirements-serving-api.txt | sha256sum | cut -c1-16)
wheels="$MAAS_CACHE/wheels-$req_hash"
stamp=.venv/.maas-requirements

download_wheels() {
    python3 -m pip download -q -d "$TMP_DEST" -r requirements.txt
    python3 -m pip download -q --no-deps -d "$TMP_DEST" -r requirements-serving-api.txt
}

create_venv() {
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install -q --no-index --find-links "$wheels" -r requirements.txt
    # --no-deps: see the comment at the top of requirements.txt.
    .venv/bin/pip install -q --no-index --find-links "$wheels" --no-deps -r requirements-serving-api.txt
    .venv/bin/pip install -q --no-deps --no-build-isolation -e .
    echo "$req_hash" > "$stamp"
}

if [ ! -d "$wheels" ]; then
    step "python: download pinned wheels" install_atomically "$wheels" download_wheels
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$req_hash" ] || [ ! -x .venv/bin/maas ]; then
    step "python: create .venv" create_venv
else
    echo "==> python: .venv up to date"
fi
