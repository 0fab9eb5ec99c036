#!/bin/sh
# The gateway container's process: nginx in the foreground, and a watcher that reloads it when the
# addresses behind a service's name change. nginx resolves upstream host names only when it loads
# its configuration, and a replica that `pulumi up` replaces (or Docker restarts) may come back on
# another address; a reload is graceful: requests in flight finish on the old workers
# (docs/architecture.md, "Gateway failover").
#
# Environment: GATEWAY_CONFIG (the nginx configuration), UPSTREAM_HOSTS (space-separated names to
# watch), WATCH_INTERVAL_SECONDS (default 1).
set -u

interval="${WATCH_INTERVAL_SECONDS:-1}"
mkdir -p /tmp/nginx
nginx -c "$GATEWAY_CONFIG" -g 'daemon off;' &
nginx_pid=$!
# docker stop sends SIGTERM to this shell: nginx's graceful stop is SIGQUIT.
trap 'kill -QUIT "$nginx_pid" 2>/dev/null' TERM INT QUIT

# One line per host: "name=address,address," (sorted), "name=" when the name has no address.
addresses() {
    for host in $UPSTREAM_HOSTS; do
        printf '%s=' "$host"
        getent ahostsv4 "$host" | awk '{ print $1 }' | sort -u | tr '\n' ','
        printf '\n'
    done
}

known=$(addresses)
while kill -0 "$nginx_pid" 2>/dev/null; do
    sleep "$interval" &
    wait $!
    current=$(addresses)
    [ "$current" = "$known" ] && continue
    # A name without an address (every replica of a service being replaced) fails the reload:
    # wait until it resolves again.
    if printf '%s\n' "$current" | grep -q '=$'; then
        continue
    fi
    if nginx -c "$GATEWAY_CONFIG" -s reload; then
        echo "gateway: upstream addresses changed, nginx reloaded" >&2
        known=$current
    fi
done
wait "$nginx_pid"
