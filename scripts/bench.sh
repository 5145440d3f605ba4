#!/usr/bin/env bash
# The benchmark (bench/): the pipeline against its peers and the physical limit.
# Installs what it measures against, when it can: libjpeg-turbo's djpeg/cjpeg and
# netpbm's pngtopnm (Debian packages), and sharp (npm, into bench/node). A peer that
# cannot be installed is skipped, and the report says so.
# Arguments go to python -m bench (e.g. --quick, --rounds 5, --only project,limit,
# --set corpus|tune|report|both|all: the corpus photos, one half of the variants, ...).
# --stages [IMAGE]: where the project's time goes instead, stage by stage, on one core.
# --dctscale [--set tune|report|both]: each JPEG at its DCT scale and the next, one core.
# --memory [--quick ...]: peak memory per decoder against the model in app/image/memory.py,
#   objects at once under 1024 and 1769 MB, and a warm process (bench/memory.py).
# --against [REV] [--rounds N] [--quick]: the JPEG-only default against REV's app/ (default
#   aaf4b1b, the last commit before issue 15: first parent of 5c60e2e), one core, CPU ms
#   and the ratio new/old per photo (bench/regression.py, bench/results/regression.md).
# --formats [--set corpus|tune|report|both] [--quick]: JPEG, WebP and AVIF at equal
#   SSIMULACRA2 score (bytes, CPU, effort), the whole set against JPEG alone and sharp,
#   one core (bench/formats.py; results in bench/results/formats.md and .json).
#   scripts/bench.sh [--quick] [--rounds N] [--only NAMES] ...   (-h: this text)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0" | cut -c3-
  echo "Options of the benchmark itself: .venv/bin/python -m bench --help"
  exit 0
fi
source scripts/setup.sh

if [ "${1:-}" = --stages ]; then
  shift
  cpu=$(python3 -c 'import os; print(max(os.sched_getaffinity(0)))')
  VIPS_CONCURRENCY=1 PYTHONPATH=. exec taskset -c "$cpu" .venv/bin/python -m bench.stages "$@"
fi

if [ "${1:-}" = --dctscale ]; then
  shift
  cpu=$(python3 -c 'import os; print(max(os.sched_getaffinity(0)))')
  VIPS_CONCURRENCY=1 PYTHONPATH=. exec taskset -c "$cpu" .venv/bin/python -m bench.dctscale "$@"
fi

if [ "${1:-}" = --against ]; then
  # Pinned by bench/regression.py itself, one core per run (VIPS_CONCURRENCY=1).
  PYTHONPATH=. exec .venv/bin/python -m bench.regression "$@"
fi

if [ "${1:-}" = --formats ]; then
  shift
  if command -v npm >/dev/null && [ ! -d bench/node/node_modules/sharp ]; then
    (cd bench/node && npm ci --no-audit --no-fund --loglevel=error) \
      || echo "bench: npm ci failed in bench/node; sharp is skipped" >&2
  fi
  cpu=$(python3 -c 'import os; print(max(os.sched_getaffinity(0)))')
  VIPS_CONCURRENCY=1 PYTHONPATH=. exec taskset -c "$cpu" .venv/bin/python -m bench.formats "$@"
fi

if [ "${1:-}" = --memory ]; then
  shift
  PYTHONPATH=. exec .venv/bin/python -m bench.memory --json bench/results/memory.json "$@"
fi

missing=()
command -v djpeg >/dev/null || missing+=(libjpeg-turbo-progs)
command -v pngtopnm >/dev/null || missing+=(netpbm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bench: installing ${missing[*]}" >&2
    apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null; }
  else
    echo "bench: ${missing[*]} missing (apt-get install ${missing[*]}); the limit is skipped" >&2
  fi
fi
if command -v npm >/dev/null && [ ! -d bench/node/node_modules/sharp ]; then
  (cd bench/node && npm ci --no-audit --no-fund --loglevel=error) \
    || echo "bench: npm ci failed in bench/node; sharp is skipped" >&2
fi
exec .venv/bin/python -m bench "$@"
