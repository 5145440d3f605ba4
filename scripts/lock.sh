#!/usr/bin/env bash
# Re-resolve the pinned, hashed requirement locks (needs the package index).
#   scripts/lock.sh           takes no arguments; review the diff before committing
#   runtime.txt     the image's dependencies (pyproject.toml)
#   build.txt       what pyvips' source distribution builds with, in the image
#   heic.txt        the HEIC image variant's addition (requirements/heic.in: pillow-heif)
#   base-image.txt  the runtime client the base image ships (for the build replay only)
#   dev.txt         everything for development and tests
# The locks carry versions and hashes only (no index addresses), for every platform
# the image and the developers use (--universal).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,10p' "$0" | cut -c3-
  exit 0
fi
source scripts/setup.sh
common=(--universal --generate-hashes --quiet)
uv pip compile pyproject.toml "${common[@]}" --python-version 3.11 -o requirements/runtime.txt
uv pip compile requirements/build.in "${common[@]}" --python-version 3.12 -o requirements/build.txt
uv pip compile requirements/heic.in "${common[@]}" --python-version 3.11 -o requirements/heic.txt
uv pip compile requirements/base-image.in "${common[@]}" --python-version 3.12 \
  -o requirements/base-image.txt
uv pip compile pyproject.toml "${common[@]}" --python-version 3.11 --group dev \
  -o requirements/dev.txt
