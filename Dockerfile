# chmigrate as a container: the migrations at /migrations (clickhouse/ and postgres/), `chmigrate` as the
# entrypoint, a non-root user. Build:  podman build -t chmigrate .   (or docker build)
# Mount other migrations over /migrations, or build FROM this image and COPY them in.
#
# BASE is any image with Python >= 3.10 and the venv module: python:3.12-slim by default; the image test
# (tests/deploy/test_image.py) builds on a Debian base made offline with debootstrap.
ARG BASE=docker.io/library/python:3.12-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/chmigrate/bin:$PATH \
    # the cache and any local state go to a writable /tmp (the Job mounts an emptyDir there)
    CHMIGRATE_LOCAL_DIR=/tmp/chmigrate

COPY pyproject.toml README.md /src/
COPY chmigrate /src/chmigrate
# A virtualenv: works on python:*-slim and on a distribution's python3 alike (PEP 668). chDB comes along as
# the scratch engine `verify`/`diff` replay into; no embedded server runs when the URLs are set.
RUN python3 -m venv /opt/chmigrate \
 && /opt/chmigrate/bin/pip install /src \
 && rm -rf /src \
 && (getent passwd chmigrate >/dev/null || useradd --uid 10001 --user-group --no-create-home \
        --home-dir /migrations --shell /usr/sbin/nologin chmigrate)

COPY clickhouse /migrations/clickhouse
COPY postgres /migrations/postgres
WORKDIR /migrations
USER 10001:10001

ENTRYPOINT ["chmigrate"]
CMD ["status"]
