#!/usr/bin/env bash
# Make .venv (CPython 3.12, as the Lambda image runs) match requirements/dev.txt and
# hold the image-resizer command, installing uv first if it is missing. Sourced by the
# other scripts; safe to run again: it changes only what differs.
#   scripts/setup.sh [-h|--help]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,5p' scripts/setup.sh | cut -c3-
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
# The image runs CPython 3.12, and so do the tests. uv finds it on PATH or among the
# interpreters it manages; pyenv's (whose shims uv cannot query) are looked up by path;
# failing both, uv installs one.
is_312() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; }
find_312() {
  local found candidate
  if found="$(uv python find 3.12 2>/dev/null)" && is_312 "$found"; then
    echo "$found"
    return
  fi
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
    if is_312 "$candidate"; then
      echo "$candidate"
      return
    fi
  done
  return 1
}
if ! [ -x .venv/bin/python ] || ! is_312 .venv/bin/python; then
  if ! python="$(find_312)"; then
    echo "setup: no CPython 3.12 found; installing one with uv" >&2
    uv python install 3.12
    python="$(uv python find 3.12)"
  fi
  echo "setup: creating .venv with $("$python" --version) ($python)" >&2
  uv venv --quiet --clear --python "$python" .venv
fi
# With the project itself, editable (requirements/editable.txt): the image-resizer command.
echo "setup: syncing .venv with requirements/dev.txt and this project (uv counts the packages it resolves)" >&2
uv pip sync --python .venv/bin/python requirements/dev.txt requirements/editable.txt
