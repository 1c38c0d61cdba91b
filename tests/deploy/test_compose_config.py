"""compose.yaml, the nginx configuration and the Dockerfile agree with each other and with the service's
settings (read as files: no Docker needed; `make containers-ci` runs the stack itself)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from service.api.metrics import Metrics
from service.api.upload import _MULTIPART_SLACK
from service.modelbuild.verify import IMAGE_SUFFIXES
from service.settings import PROJECT_ROOT, ServerSettings
from tests.deploy.dockerfile import dockerfile_stages
from tests.readme import section

NGINX_CONF = (PROJECT_ROOT / "deploy" / "nginx" / "default.conf").read_text()
DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text()
MAKEFILE = (PROJECT_ROOT / "Makefile").read_text()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())


def _nginx(directive: str) -> str:
    match = re.search(rf"^\s*{directive}\s+([^;]+);", NGINX_CONF, re.M)
    assert match, f"{directive} not in default.conf"
    return match.group(1)


def _bytes(size: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(size[:-1]) * units[size[-1].lower()] if size[-1].isalpha() else int(size)


def test_balancer_body_limit_is_the_apis() -> None:
    """nginx refuses exactly what the API would: the image limit plus the multipart allowance."""
    limit = ServerSettings().max_upload_bytes
    assert _bytes(_nginx("client_max_body_size")) == limit + _MULTIPART_SLACK
    assert "10 MiB" in NGINX_CONF and limit == 10 * 1024 * 1024


def test_compose_upload_limit_is_the_services(compose: dict[str, Any]) -> None:
    env = compose["services"]["api"]["environment"]
    assert int(env["MVA_MAX_UPLOAD_BYTES"]) == ServerSettings().max_upload_bytes


def test_failed_attempts_go_to_another_replica() -> None:
    retry_on = _nginx("proxy_next_upstream").split()
    assert {"error", "timeout", "http_502", "http_503", "non_idempotent"} <= set(retry_on)
    assert int(_nginx("proxy_next_upstream_tries")) >= 2
    # retrying a POST needs its body buffered, and upstream keep-alive needs HTTP/1.1 without "close"
    assert _nginx("proxy_request_buffering") == "on"
    assert _nginx("proxy_http_version") == "1.1"
    assert _nginx("proxy_set_header Connection") == '""'
    assert int(_nginx("keepalive")) > 0


def test_no_replica_is_marked_down_for_the_apis_own_503s() -> None:
    """nginx counts every answer it retries on as a failure, the API's 503 under overload too: any
    max_fails would take every replica out at once under load (test_compose_stack.py shows the overload
    answered by the API)."""
    assert "http_503" in _nginx("proxy_next_upstream").split()
    assert _nginx("server api:8000").split()[-1] == "max_fails=0"


def test_a_replica_that_hangs_is_retried_on_another(compose: dict[str, Any]) -> None:
    """A read timeout is retried (`timeout` above) only while proxy_next_upstream_timeout has time left:
    with a 60 s read timeout and 30 s to retry, a hung replica's requests waited 60 s and failed. The read
    timeout must also outlast the API's own answer under load (503 after MVA_QUEUE_TIMEOUT_S; micro-batched,
    postprocessing can wait as long again). compose lets MVA_QUEUE_TIMEOUT_S change, the file fixes the
    read timeout: the README names the largest queue timeout it covers, from the file's figure."""
    queue = ServerSettings().queue_timeout_s
    env = compose["services"]["api"]["environment"]
    assert env["MVA_QUEUE_TIMEOUT_S"] == f"${{MVA_QUEUE_TIMEOUT_S:-{queue:g}}}"
    read = _seconds(_nginx("proxy_read_timeout"))
    assert queue * 2 <= read < _seconds(_nginx("proxy_next_upstream_timeout"))
    largest = f"`MVA_QUEUE_TIMEOUT_S` past {read / 2:g} s"
    containers = " ".join(section("## Containers").split())
    assert f"raising {largest} needs `proxy_read_timeout` raised to twice it" in containers
    row = f"`MVA_QUEUE_TIMEOUT_S` ({queue:g}; past {read / 2:g} s only with `lb`'s read timeout"
    assert row in containers


def _seconds(duration: str) -> float:
    assert duration.endswith("s"), duration
    return float(duration[:-1])


def test_the_balancer_leaves_compression_to_the_api() -> None:
    """The API sends the build's brotli and gzip copies; nginx's own gzip stays off in the site itself,
    not left to the base image's nginx.conf, which turns it on in Debian's nginx (the stand-in's)."""
    assert _nginx("gzip") == "off"


def test_the_balancer_passes_the_clients_host_with_its_port() -> None:
    """The API builds absolute URLs (its redirects: /web -> /web/, a trailing slash dropped) from the Host
    header. nginx's $host has no port, so through lb on 127.0.0.1:8000 they pointed at port 80; the
    client's own Host header ($http_host) keeps the port it connected to."""
    assert _nginx("proxy_set_header Host") == "$http_host"


def test_api_cpus_follow_the_threads(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    threads = api["environment"]["MVA_THREADS"]
    assert threads == api["environment"]["MVA_INFERENCE_CORES"] == "${MVA_THREADS:-1}"
    assert api["deploy"]["resources"]["limits"]["cpus"] == threads


def test_api_is_replicated_read_only_unprivileged_and_checked_on_readiness(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["deploy"]["replicas"] == "${MVA_REPLICAS:-2}"
    assert api["read_only"] is True and "/tmp" in api["tmpfs"]
    assert api["cap_drop"] == ["ALL"] and api["security_opt"] == ["no-new-privileges:true"]
    assert api["healthcheck"]["test"] == ["CMD", "python", "-m", "service.healthcheck", "/readyz"]


def test_balancer_waits_for_healthy_replicas_and_serves_one_port(compose: dict[str, Any]) -> None:
    lb = compose["services"]["lb"]
    assert lb["image"] == "nginx:stable"
    assert lb["depends_on"]["api"]["condition"] == "service_healthy"
    assert lb["ports"] == ["${MVA_LB_BIND:-127.0.0.1}:${MVA_LB_PORT:-8000}:80"]
    for volume in lb["volumes"]:
        host_path = volume.split(":")[0]
        assert (PROJECT_ROOT / host_path).is_file(), f"{host_path} is missing"
    assert not [
        s
        for s, spec in compose["services"].items()
        if "ports" in spec and s not in ("lb", "locust-master", "prometheus")
    ]


def test_locust_runs_the_projects_locustfile_against_the_balancer(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("locust-master", "locust-worker"):
        assert services[name]["profiles"] == ["loadtest"]
        locustfile = services[name]["command"][services[name]["command"].index("-f") + 1]
        mount = next(v for v in services[name]["volumes"] if v.startswith("./loadtests:"))
        in_repo = locustfile.replace(mount.split(":")[1], "loadtests")
        assert (PROJECT_ROOT / in_repo).is_file()
    assert services["locust-master"]["environment"]["LOCUST_HOST"] == "http://lb"
    assert services["locust-master"]["depends_on"]["lb"]["condition"] == "service_healthy"


def test_image_serves_every_setting_from_the_environment() -> None:
    """The server binds where MVA_HOST/MVA_PORT say, and the health check asks the same port."""
    env = dict(re.findall(r"^\s+(MVA_[A-Z_]+)=(\S+?)\s*\\?$", DOCKERFILE, re.M))
    assert env["MVA_HOST"] == "0.0.0.0" and env["MVA_PORT"] == "8000"
    assert env["MVA_THREADS"] == env["MVA_INFERENCE_CORES"]
    assert re.search(r'^CMD \["mobile-vision-api", "serve"\]$', DOCKERFILE, re.M), "exec form, no shell"
    assert re.search(
        r"^HEALTHCHECK .*\n\s+CMD \[\"python\", \"-m\", \"service.healthcheck\"", DOCKERFILE, re.M
    )
    assert re.search(r"^USER \d+:\d+$", DOCKERFILE, re.M)


def test_the_api_key_is_on_from_a_secret_file_that_is_not_in_git(compose: dict[str, Any]) -> None:
    """The api replicas and the locust processes read the same compose secret; its source is generated
    by `make api-key` into a git-ignored folder, never committed."""
    source = compose["secrets"]["api_key"]["file"]
    assert source == "${MVA_API_KEY_SECRET:-./deploy/secrets/api_key}"
    default_path = source.split(":-")[1].rstrip("}")
    assert re.search(rf"^API_KEY_FILE := {re.escape(default_path.removeprefix('./'))}$", MAKEFILE, re.M)
    assert re.search(r"^image: .*\bapi-key\b", MAKEFILE, re.M) and re.search(
        r"^containers-ci: .*\bapi-key\b", MAKEFILE, re.M
    )
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", default_path], cwd=PROJECT_ROOT, check=False
    )
    assert ignored.returncode == 0, f"{default_path} is not git-ignored"
    mounted = "${MVA_API_KEY_FILE-/run/secrets/api_key}"  # empty MVA_API_KEY_FILE: the key is off
    services = compose["services"]
    assert services["api"]["environment"]["MVA_API_KEY_FILE"] == mounted
    assert "MVA_API_KEY" not in services["api"]["environment"]  # one way in: the file
    for name in ("locust-master", "locust-worker"):
        assert services[name]["environment"]["MVA_LOADTEST_API_KEY_FILE"] == mounted
    for name in ("api", "locust-master", "locust-worker"):
        assert services[name]["secrets"] == ["api_key"]


def test_the_api_keeps_idle_connections_longer_than_the_balancer(compose: dict[str, Any]) -> None:
    """nginx must close an idle upstream connection before the API does: else a request can go out on a
    connection the API is closing at that moment and come back as a reset (a 502, and a replica marked
    failed). uvicorn's default (5 s) is far below nginx's."""
    upstream = re.search(r"^upstream api \{(.*?)^\}", NGINX_CONF, re.M | re.S)
    assert upstream
    nginx_idle = re.search(r"^\s*keepalive_timeout\s+(\d+)s;", upstream.group(1), re.M)
    assert nginx_idle
    api_idle = float(compose["services"]["api"]["environment"]["MVA_KEEP_ALIVE_S"])
    assert api_idle >= int(nginx_idle.group(1)) + 10


def compose_environment(compose_text: str) -> tuple[set[str], set[str]]:
    """What compose.yaml takes from the environment (or .env): its `${NAME...}` interpolations and the
    environment entries without a value, which compose passes on from there; and every variable it sets."""
    compose = yaml.safe_load(compose_text)
    read = set(re.findall(r"\$\{([A-Za-z_]\w*)", compose_text))
    set_ = set()
    for service in compose["services"].values():
        environment = service.get("environment", {})
        read |= {name for name, value in environment.items() if value is None}
        set_ |= set(environment)
    return read, set_


def compose_table_variables(readme: Path) -> set[str]:
    """The variables the README's compose.yaml table names in its settings column."""
    table = section("### compose.yaml", readme)
    rows = [row.split(" | ")[-1] for row in table.splitlines() if row.startswith("| `")]
    assert rows
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)[`=]", row)}


def test_the_readmes_compose_table_names_each_setting_the_stack_reads() -> None:
    """README, "compose.yaml": a variable compose.yaml reads that the table leaves out is a setting a
    user cannot find (MVA_LOG_FORMAT and MVA_ACCESS_LOG, whose stack defaults are not the service's,
    were); one the table names that the stack neither reads nor sets does nothing."""
    read, set_ = compose_environment((PROJECT_ROOT / "compose.yaml").read_text())
    named = compose_table_variables(PROJECT_ROOT / "README.md")
    assert sorted(read - named) == []
    assert sorted(named - read - set_) == []


def test_the_readmes_stack_examples_send_the_key() -> None:
    """The stack wants the API key on /classify, /detect and /v1/models: a README example in the section
    "Containers" that calls them through lb without it only shows the 401."""
    calls = [
        line
        for line in section("## Containers").splitlines()
        if "curl " in line and re.search(r"127\.0\.0\.1:8000/(classify|detect|v1/models)", line)
    ]
    assert calls
    assert [line for line in calls if "X-API-Key: " not in line] == []


def test_the_readmes_stack_examples_send_pictures_that_exist(images: Path) -> None:
    """Copied from a fresh clone, an example that uploads a file nobody has (`cat.jpg`) answers with curl's
    "Failed to open/read local data" and the CLI's "no such file", not with the stack's answer. The
    pictures are the project's own, in ../shared/images beside the checkout (the tests' images)."""
    upload = r"(?:-F image=@|--data-binary @|mobile-vision-api (?:classify|detect) )(\S+)"
    uploads = re.findall(upload, section("## Containers"))
    assert uploads
    shared = "../shared/images/"
    found = [images / p.removeprefix(shared) if p.startswith(shared) else PROJECT_ROOT / p for p in uploads]
    assert [str(path) for path in found if not path.is_file()] == []


PROMETHEUS_DIR = PROJECT_ROOT / "deploy" / "prometheus"


def test_prometheus_scrapes_each_api_replica_where_it_listens(compose: dict[str, Any]) -> None:
    """The `monitoring` profile's Prometheus finds the replicas by the api service's name and scrapes the
    port the image serves on; its configuration and rules come from deploy/prometheus/."""
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"] and prometheus["read_only"] is True
    assert prometheus["build"]["dockerfile"] == "docker/prometheus.Dockerfile"
    assert (PROJECT_ROOT / prometheus["build"]["dockerfile"]).is_file()
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert prometheus["ports"] == ["${MVA_LB_BIND:-127.0.0.1}:${MVA_PROMETHEUS_PORT:-9090}:9090"]
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["api"] and "api" in compose["services"]
    assert re.search(rf"^\s*MVA_PORT={discovery['port']} \\$", DOCKERFILE, re.M)  # in the runtime ENV
    assert job["metrics_path"] == "/metrics"
    assert [Path(f).name for f in config["rule_files"]] == ["rules.yml"]


def test_prometheus_rules_use_the_services_metric_names() -> None:
    """Every series a recording rule reads is one the API exports (service/api/metrics.py), so a renamed
    metric cannot leave a rule silently empty."""
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    read = {name for expr in exprs for name in re.findall(r"\b(mva_[a-z_]+)\b", expr)}
    metrics = Metrics()
    metrics.stage_seconds.labels("/classify", "inference").observe(0.005)
    metrics.requests.labels("/classify", "200").inc()
    metrics.inferences.labels("mobilenet_v2", "onnxruntime").inc()
    exported = {sample.name for family in metrics.registry.collect() for sample in family.samples}
    assert read and read <= exported, read - exported


def test_the_readme_names_every_recorded_series() -> None:
    """README, "compose.yaml": the prometheus row lists what rules.yml records (it left out
    mva:malformed_requests:rate1m), and names no series the rules do not record."""
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())
    recorded = {rule["record"] for group in rules["groups"] for rule in group["rules"]}
    named = set(re.findall(r"`(mva:[a-z0-9_:]+)", section("### compose.yaml")))
    assert recorded and named == recorded


def test_a_code_change_leaves_the_runtime_images_dependency_layer_alone() -> None:
    """The runtime stage's big layer, the venv with the pinned dependencies (~460 MB), comes from a stage
    that sees no source file: copied from a stage that also installed the package, every code change
    made a new copy of the whole venv, to push to a registry and pull on every node."""
    stages = dockerfile_stages(DOCKERFILE)

    def sees_the_sources(name: str) -> bool:
        if name not in stages:  # a base image
            return False
        base, instructions = stages[name]
        copies = [i for i in instructions if i.startswith("COPY ") and "--from=" not in i]
        return any("service/" in i.split() for i in copies) or sees_the_sources(base)

    _, runtime = stages["runtime"]
    venv_from = [m.group(1) for i in runtime if (m := re.match(r"COPY --from=(\S+) /opt/venv /opt/venv$", i))]
    assert len(venv_from) == 1, venv_from
    assert not sees_the_sources(venv_from[0]), f"/opt/venv comes from {venv_from[0]}, which copies service/"
    # the package goes into that venv after every other copy, so the layers before it stay cached too
    package = r"RUN .*/opt/venv/bin/python install .*--no-deps"
    installs = [n for n, i in enumerate(runtime) if re.match(package, i)]
    copies = [n for n, i in enumerate(runtime) if i.startswith("COPY --from=")]
    assert len(installs) == 1 and max(copies) < installs[0], runtime


def _build_verifies_on_pictures_in(folder: Path) -> bool:
    """Whether the models stage passes `--images` for a docker/images holding what `folder` holds: its
    own shell test, run by sh on `folder` in place of /src/images."""
    _, models = dockerfile_stages(DOCKERFILE)["models"]
    (build,) = [i for i in models if "service.modelbuild build" in i]
    tests = {var: test for test, var in re.findall(r"\bif (.*?); then (\w+)=", build)}
    test = tests["images"].replace("/src/images", shlex.quote(str(folder)))
    done = subprocess.run(
        ["sh", "-c", f"if {test}; then echo yes; fi"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip() == "yes"


# the kinds ../shared/images has (no .png), each kind the build reads alone, a suffix in capitals
@pytest.mark.parametrize(
    "names", [["cat.jpg", "grace_hopper.bmp"], *[[f"cat{s}"] for s in sorted(IMAGE_SUFFIXES)], ["CAT.JPG"]]
)
def test_the_image_build_verifies_on_the_pictures_it_is_given(
    names: list[str], images: Path, tmp_path: Path
) -> None:
    """Any picture the model build reads (service/modelbuild/verify.py) makes the build verify on
    docker/images. `ls` of the three kinds failed when one was missing, and ../shared/images has no
    .png: the image was verified on seeded noise with the pictures in its build context."""
    for name in names:
        Image.open(images / "cat.bmp").save(tmp_path / name)
    assert _build_verifies_on_pictures_in(tmp_path)


def test_the_image_build_verifies_on_noise_without_pictures(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("pictures for the build\n")
    assert not _build_verifies_on_pictures_in(tmp_path)
