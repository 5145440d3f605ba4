# syntax=docker/dockerfile:1
# The function image: the AWS Lambda Python 3.12 base image (Amazon Linux 2023)
# with libvips from the pyvips-binary wheel. Builds for linux/arm64 and linux/amd64:
#   docker buildx build --platform linux/arm64 --provenance=false -t image-resizer .
# The base image's entry point stays: the same image runs in Lambda and, locally,
# under the Runtime Interface Emulator it ships (docker run -p 9000:8080 image-resizer).
ARG PYTHON_VERSION=3.12
FROM amazon/aws-lambda-python:${PYTHON_VERSION}

# Dependencies first, from the hashed lock: this layer is rebuilt only when the lock changes.
COPY requirements/runtime.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: \
        --target "${LAMBDA_TASK_ROOT}" -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY app/ ${LAMBDA_TASK_ROOT}/app/

# glibc gives each thread that allocates its own malloc arena, and libvips' buffers
# fragment them: a warm function's memory then grows with every image (a 12 MP
# progressive JPEG: 82 MB after one, 204 MB after four). Two arenas keep it flat (90 MB).
# The emulator and the benchmark read this line to run the function as the image does.
ENV MALLOC_ARENA_MAX=2

CMD ["app.handler.handler"]
