#!/bin/sh
# Runs nginx in the foreground and reloads it whenever Docker's DNS answer for the upstream service
# changes, so replicas added by `docker compose up --scale api=N`, or restarted with a new address, get
# traffic within seconds and removed ones stop getting any. (nginx resolves an upstream's name only when
# it loads its configuration; a reload is graceful: requests in flight finish on the old workers.)
set -eu
service=${LB_UPSTREAM_SERVICE:-api}
interval=${LB_RESOLVE_INTERVAL_S:-2}

addresses() {
    getent ahostsv4 "$service" | cut -d' ' -f1 | sort -u | tr '\n' ' '
}

watch_replicas() {
    known=$(addresses || true)
    echo "lb: $service -> ${known:-(none)}" >&2
    while sleep "$interval"; do
        now=$(addresses || true)
        # An empty answer (every replica restarting at once) keeps the last configuration.
        if [ -n "$now" ] && [ "$now" != "$known" ]; then
            echo "lb: $service -> $now (was ${known:-(none)}); reloading nginx" >&2
            nginx -s reload && known=$now
        fi
    done
}

watch_replicas &
exec nginx -g 'daemon off;'
