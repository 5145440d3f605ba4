#!/usr/bin/env bash
# The main job locally, on embedded defaults, with no AWS account: a local S3 API (moto's
# server) on 127.0.0.1:4566, the function behind a Lambda Runtime API emulator on
# 127.0.0.1:9000 (uploads under SOURCE_PREFIX trigger it) and a gallery on 127.0.0.1:8321.
#   scripts/local.sh [--s3-port PORT] [--lambda-port PORT] [--gallery-port PORT]
#   (or S3_PORT=... LAMBDA_PORT=... GALLERY_PORT=...). renditions.toml (or
#   RENDITIONS_CONFIG) and the function's variables apply; a bad one, or a port taken,
#   stops the stack at once, with exit status 2. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,8p' "$0" | cut -c3-
  exit 0
fi
source scripts/setup.sh
exec .venv/bin/python -m devtools.stack "$@"
