#!/usr/bin/env bash
# Make .venv match requirements/dev.txt, installing uv first if it is missing.
# Sourced by the other scripts; safe to run again: it changes only what differs.
#   scripts/setup.sh [-h|--help]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,4p' scripts/setup.sh | cut -c3-
  exit 0
fi
# pip puts uv in the user's script folder, which is often not on PATH: look there first.
user_bin="$(python3 -c 'import site; print(site.getuserbase())')/bin"
case ":$PATH:" in *":$user_bin:"*) ;; *) PATH="$user_bin:$PATH" ;; esac
export PATH
if ! command -v uv >/dev/null 2>&1; then
  echo "setup: uv is not installed; installing it with pip into $user_bin" >&2
  python3 -m pip install --quiet --user uv
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $(python3 --version)" >&2
  uv venv --quiet --python python3 .venv
fi
echo "setup: syncing .venv with requirements/dev.txt (the first time, ~150 packages)" >&2
uv pip sync --python .venv/bin/python requirements/dev.txt
