#!/usr/bin/env bash
# The container step of CI (`make containers-ci`): build the images (API, locust, Prometheus),
# `docker-compose up` (2 api replicas behind nginx, the API key on: compose's secret from
# deploy/secrets/api_key; Prometheus of the profile `monitoring` scraping both replicas throughout),
# real /classify and /detect requests through the balancer with the key (answers checked, both replicas
# seen; without it: 401; a request's X-Request-ID in the api's JSON access log; every request counted by
# Prometheus), a headless locust run through the balancer with zero failures, one replica stopped while
# locust runs (zero failures: nginx retries on the other replica), the replica started again and seen
# serving, then `docker-compose down`. Where no Docker engine answers, ../shared/tools/docker-standin.sh
# starts one first. Everything listens on loopback ports picked free.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
say() { echo "::: containers: $* ($((SECONDS - start)) s)"; }

DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=docker
STANDIN=${MVA_DOCKER_STANDIN:-../shared/tools/docker-standin.sh}
if ! "$DOCKER" info >/dev/null 2>&1; then
  [ -f "$STANDIN" ] || { echo "no Docker engine answers, and no stand-in at $STANDIN" >&2; exit 1; }
  say "no Docker engine answers: running $STANDIN"
  bash "$STANDIN"
  DOCKER=/usr/bin/docker
fi
if command -v docker-compose >/dev/null; then COMPOSE=(docker-compose); else COMPOSE=("$DOCKER" compose); fi
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

export COMPOSE_PROJECT_NAME=mvaci
export MVA_IMAGE=mobile-vision-api:ci MVA_LOCUST_IMAGE=mobile-vision-api-locust:ci
export MVA_PROMETHEUS_IMAGE=mobile-vision-api-prometheus:ci
export MVA_LB_BIND=127.0.0.1 MVA_LB_PORT=${MVA_LB_PORT:-$(free_port)} LOCUST_WEB_PORT=$(free_port)
export MVA_PROMETHEUS_PORT=$(free_port)
export MVA_REPLICAS=2 LOCUST_WORKERS=2
# the key on (compose's default MVA_API_KEY_FILE), from the secret file `make image` writes when missing,
# whatever the caller's shell says; unset, not exported: pytest reads the service's settings here too
export MVA_API_KEY_SECRET=./deploy/secrets/api_key
unset MVA_API_KEY_FILE MVA_API_KEY
LB_URL=http://127.0.0.1:$MVA_LB_PORT
PROMETHEUS_URL=http://127.0.0.1:$MVA_PROMETHEUS_PORT
compose() { "${COMPOSE[@]}" --profile loadtest --profile monitoring "$@"; }
stack_tests() { # pytest arguments: tests/deploy/test_compose_stack.py against this stack
  MVA_LB_URL=$LB_URL MVA_PROMETHEUS_URL=$PROMETHEUS_URL MVA_EXPECT_REPLICAS=$MVA_REPLICAS \
    .venv/bin/pytest -q -p no:cacheprovider tests/deploy/test_compose_stack.py "$@"
}

finish() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "--- containers: failed; the last log lines of every service:"
    compose logs --no-color --tail 30 || true
  fi
  compose down --volumes --remove-orphans >/dev/null 2>&1 || true
  echo "::: containers: $([ $rc -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - start)) s"
}
trap finish EXIT
compose down --volumes --remove-orphans >/dev/null 2>&1 || true

say "build $MVA_IMAGE, $MVA_LOCUST_IMAGE and $MVA_PROMETHEUS_IMAGE"
mkdir -p artifacts/containers
build_log=artifacts/containers/build.log
make --no-print-directory image IMAGE="$MVA_IMAGE" DOCKER="$DOCKER" >"$build_log" 2>&1 &&
  "$DOCKER" build -t "$MVA_LOCUST_IMAGE" -f docker/locust.Dockerfile . >>"$build_log" 2>&1 &&
  "$DOCKER" build -t "$MVA_PROMETHEUS_IMAGE" -f docker/prometheus.Dockerfile . >>"$build_log" 2>&1 ||
  { tail -40 "$build_log"; exit 1; }
"$DOCKER" image inspect "$MVA_IMAGE" --format 'image {{index .RepoTags 0}}: {{.Size}} bytes' |
  awk '{ printf "::: containers: %s %s %.0f MB\n", $1, $2, $3 / 1e6 }'

healthy() { # service...: every container of these services reports healthy
  local id
  for service in "$@"; do
    for id in $(compose ps -q "$service"); do
      [ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$id")" = healthy ] || return 1
    done
  done
}
wait_healthy() {
  for _ in $(seq 120); do healthy "$@" && return 0; sleep 1; done
  echo "not healthy after 120 s: $*" >&2
  return 1
}

say "Prometheus' configuration and rules pass promtool (the image's own)"
"$DOCKER" run --rm --entrypoint promtool -v "$PWD/deploy/prometheus:/etc/prometheus:ro" "$MVA_PROMETHEUS_IMAGE" \
  check config /etc/prometheus/prometheus.yml

say "compose up: $MVA_REPLICAS api replicas behind lb on $LB_URL, Prometheus on $PROMETHEUS_URL"
compose up -d api lb prometheus
wait_healthy api lb prometheus

say "each api replica runs as a non-root user on a read-only root filesystem"
for id in $(compose ps -q api); do
  read -r user readonly < <("$DOCKER" inspect -f '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}' "$id")
  uid=$("$DOCKER" exec "$id" id -u)
  if [ "$uid" = 0 ] || [ "$readonly" != true ]; then
    echo "replica ${id:0:12}: user '$user' (uid $uid), read-only rootfs: $readonly" >&2
    exit 1
  fi
  if "$DOCKER" exec "$id" sh -c 'touch /app/probe 2>/dev/null || touch /probe 2>/dev/null'; then
    echo "replica ${id:0:12}: the root filesystem is writable" >&2
    exit 1
  fi
  "$DOCKER" exec "$id" sh -c 'touch /tmp/probe && rm /tmp/probe'  # the tmpfs is writable
done

say "real requests through lb; Prometheus counts them on both replicas"
stack_tests
say "the api's JSON access log has the request the test tagged (X-Request-ID through nginx), naming its client"
# (grep reads it all: -q would stop early and fail the pipe under pipefail)
probe=$(compose logs --no-color api | grep -F '"request_id":"ci-compose-access-log","method":"POST","path":"/classify"') ||
  { echo "no access log line for X-Request-ID ci-compose-access-log in: compose logs api" >&2; exit 1; }
# the client as lb saw it (its log line starts with $remote_addr), not lb and not the X-Forwarded-For
# the test sent
seen_by_lb=$("$DOCKER" logs "$(compose ps -q lb)" 2>&1 | grep -F 'POST /classify' | grep -F 'id=ci-compose-access-log' |
  awk 'NR == 1 { print $1 }')
client=$(grep -o '"client":"[^"]*"' <<<"$probe" | sed -n 1p) || true
echo "::: containers: access log: $client (lb saw $seen_by_lb)"
[ -n "$seen_by_lb" ] && [ "$client" = "\"client\":\"$seen_by_lb\"" ] ||
  { echo "the api's access log names $client, not the client lb saw ($seen_by_lb)" >&2; exit 1; }

# locust (master + workers, compose profile `loadtest`) runs headless against lb and exits with the
# locustfile's verdict: any failed request fails the run.
export LOCUST_HEADLESS=true LOCUST_USERS=8 LOCUST_SPAWN_RATE=8 MVA_LOADTEST_MAX_FAIL_RATIO=0
if ls docker/images/*.jpg >/dev/null 2>&1; then export MVA_LOADTEST_IMAGES=/images; fi
locust_start() { # run time
  export LOCUST_RUN_TIME=$1
  compose up -d --no-deps --force-recreate locust-master locust-worker
}
locust_result() { # waits for the master; prints its totals; fails unless it passed
  local master rc logs
  master=$(compose ps -q locust-master)
  rc=$("$DOCKER" wait "$master")
  # no `| head` under pipefail: a writer cut off early dies of SIGPIPE and fails the step
  logs=$("$DOCKER" logs "$master" 2>&1)
  grep -m1 -E '^ +Aggregated +[0-9]+ +[0-9]+\(' <<<"$logs" |
    awk '{ printf "::: containers: locust: %s requests, %s failed, %s req/s, median %s ms\n", $2, $3, $10, $8 }'
  [ "$rc" -eq 0 ] || { "$DOCKER" logs "$master" 2>&1 | tail -30; echo "locust exited $rc" >&2; return 1; }
}

say "locust through lb, 15 s"
locust_start 15s
locust_result

say "locust through lb, 30 s; one api replica stopped after 10 s"
since=$(date +%s)
locust_start 30s
sleep 10
mapfile -t api_ids < <(compose ps -q api)
victim=${api_ids[0]}
t0=$(date +%s%N)
"$DOCKER" stop "$victim" >/dev/null
stop_ms=$((($(date +%s%N) - t0) / 1000000))
exit_code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$victim")
say "stopped replica ${victim:0:12} (SIGTERM): exited $exit_code after $stop_ms ms"
[ "$exit_code" -eq 0 ] || { echo "the replica did not exit cleanly on SIGTERM" >&2; exit 1; }
locust_result
lb_log=$("$DOCKER" logs --since "$since" "$(compose ps -q lb)" 2>&1)
retried=$(grep -cE 'upstream=[^ ]+, ' <<<"$lb_log" || true)
echo "::: containers: lb: $retried requests failed on the stopped replica and were answered by the other one"
grep -m3 -E 'upstream=[^ ]+, ' <<<"$lb_log" || true
# zero failures must come from nginx's retries, not from the stopped replica never being asked
[ "$retried" -gt 0 ] || { echo "no request reached the stopped replica: the failover was not exercised" >&2; exit 1; }

say "start the stopped replica again: lb and Prometheus pick it up"
"$DOCKER" start "$victim" >/dev/null
wait_healthy api
sleep 3 # lb re-resolves the service every 2 s
stack_tests -k "every_replica or prometheus"

say "one api replica paused (it accepts and never answers): lb answers from the other after its read timeout"
mapfile -t api_ids < <(compose ps -q api)
hung=${api_ids[0]}
picture=$(.venv/bin/python -c 'import matplotlib.cbook as c; print(c.get_sample_data("grace_hopper.jpg", asfileobj=False))')
since=$(date +%s)
"$DOCKER" pause "$hung" >/dev/null
codes=$(for _ in 1 2 3 4; do
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 40 -H "X-API-Key: $(cat "$MVA_API_KEY_SECRET")" \
    -H 'Content-Type: image/jpeg' --data-binary "@$picture" "$LB_URL/classify" &
done; wait)
"$DOCKER" unpause "$hung" >/dev/null
lb_log=$("$DOCKER" logs --since "$since" "$(compose ps -q lb)" 2>&1)
echo "::: containers: answers: $(tr '\n' ' ' <<<"$codes")"
grep -m2 -E 'status=504, 200' <<<"$lb_log" || true
[ "$(grep -c '^200$' <<<"$codes")" -eq 4 ] || { echo "a request failed while a replica hung" >&2; exit 1; }
grep -qE 'status=504, 200' <<<"$lb_log" || { echo "no request met the hung replica: not exercised" >&2; exit 1; }

say "compose down"
