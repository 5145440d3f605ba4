# syntax=docker/dockerfile:1
# The function image: the AWS Lambda Python 3.12 base image (Amazon Linux 2023)
# with libvips from the pyvips-binary wheel. Builds for linux/arm64 and linux/amd64:
#   docker buildx build --platform linux/arm64 --provenance=false -t image-resizer .
# The base image's entry point stays: the same image runs in Lambda and, locally,
# under the Runtime Interface Emulator it ships (docker run -p 9000:8080 image-resizer).
# `python -m devtools.replay` (and the tests) replay this file's own lines without Docker.
ARG PYTHON_VERSION=3.12
FROM amazon/aws-lambda-python:${PYTHON_VERSION}

# Where the build's inputs wait; removed in the same layer that uses them.
ARG BUILD_DIR=/tmp/build

# Dependencies first, from the hashed locks: this layer is rebuilt only when a lock changes.
# Every package installs from a wheel except pyvips, which is published as source only.
# It is pure Python: with no compiler and no libvips headers in the base image, its
# setup falls back to cffi's ABI mode, and at run time it loads the pyvips-binary
# wheel's compiled module. It builds with setuptools, cffi and pkgconfig from the hashed
# build lock, installed first; build isolation would fetch those unhashed.
#
# HEIC=on builds the HEIC variant: pillow-heif too (requirements/heic.txt), which decodes
# iPhone photos (HEVC), as libvips' wheel cannot. Off by default: its wheels bundle x265
# (GPL-2.0) and HEVC is patent-encumbered (docs/deploy.md, HEIC photos). Without it a HEIC upload
# fails with a sentence naming this argument.
ARG HEIC=off
COPY requirements/build.txt requirements/runtime.txt requirements/heic.txt ${BUILD_DIR}/
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: \
        --target "${BUILD_DIR}/backend" -r "${BUILD_DIR}/build.txt" \
    && PYTHONPATH="${BUILD_DIR}/backend" pip install --no-cache-dir --require-hashes \
        --only-binary=:all: --no-binary=pyvips --no-build-isolation \
        --target "${LAMBDA_TASK_ROOT}" -r "${BUILD_DIR}/runtime.txt" \
    && if [ "${HEIC}" = on ]; then \
        pip install --no-cache-dir --require-hashes --only-binary=:all: \
            --target "${LAMBDA_TASK_ROOT}" -r "${BUILD_DIR}/heic.txt"; \
    elif [ "${HEIC}" != off ]; then \
        echo "HEIC=${HEIC}: expected on or off" >&2; exit 1; \
    fi \
    && rm -rf "${BUILD_DIR}"

COPY app/ ${LAMBDA_TASK_ROOT}/app/
# The configuration file travels in the image, beside the app package where the function
# reads it: an image tag and its configuration roll forward and back together, and
# Lambda's 4 KB environment is left to the few overrides (scripts/deploy.sh builds from a
# copy of this folder holding exactly the file it checked).
COPY renditions.toml ${LAMBDA_TASK_ROOT}/renditions.toml
# The app's bytecode, made here: the task root is read-only in Lambda, so a module
# without it is compiled again at every cold start (pip compiled the dependencies as it
# installed them). checked-hash: each file is checked against its source's hash, not
# its time, so it holds whatever times the image's files carry.
RUN python3 -m compileall -q --invalidation-mode checked-hash "${LAMBDA_TASK_ROOT}/app"

# glibc gives each thread that allocates its own malloc arena, and libvips' buffers
# fragment them: a warm function's memory then grows with every image (a 12 MP
# progressive JPEG: 82 MB after one, 204 MB after four). Two arenas keep it flat (90 MB).
# The emulator and the benchmark read this line to run the function as the image does.
ENV MALLOC_ARENA_MAX=2

CMD ["app.handler.handler"]
