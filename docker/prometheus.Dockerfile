# Prometheus for the compose profile `monitoring` (compose.yaml): Debian's package, on the base image the
# API and locust images already use, so the stack needs no further registry image. The configuration
# (deploy/prometheus/) is mounted at run time, not copied.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o prometheus -g prometheus /prometheus
USER prometheus
EXPOSE 9090
# python3 is there already (the base image); the image has neither curl nor wget
HEALTHCHECK --interval=5s --timeout=3s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/-/ready', timeout=2)"]
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", \
     "--storage.tsdb.retention.time=7d", "--web.listen-address=:9090"]
