# Locust for the compose profile `loadtest` (compose.yaml): the `loadtest` extra of pyproject.toml,
# pinned by requirements.lock. The locustfile is mounted at run time (./loadtests), not copied.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml requirements.lock /tmp/pins/
RUN python -c "import tomllib; extra = tomllib.load(open('/tmp/pins/pyproject.toml', 'rb'))['project']['optional-dependencies']['loadtest']; open('/tmp/pins/loadtest.txt', 'w').write('\n'.join(extra))" \
 && python -m venv /opt/locust \
 && /opt/locust/bin/pip install -q -c /tmp/pins/requirements.lock -r /tmp/pins/loadtest.txt \
 && rm -rf /tmp/pins \
 && useradd --system --uid 10002 --user-group --create-home --shell /usr/sbin/nologin locust
ENV PATH=/opt/locust/bin:$PATH
USER locust
WORKDIR /mnt/locust
EXPOSE 8089 5557
ENTRYPOINT ["locust"]
