#!/bin/sh
# The official redis image's entrypoint, condensed: a config path or flags imply redis-server, and
# the server drops root after taking ownership of /data.
set -e

case "$1" in
	-*|*.conf) set -- redis-server "$@" ;;
esac

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

# Data files are private to the server, as in the official image.
umask 0077
exec "$@"
