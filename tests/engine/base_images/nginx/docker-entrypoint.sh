#!/bin/sh
# The official nginx image's entrypoint, condensed: run the /docker-entrypoint.d hooks before nginx.
set -e

if [ "$1" = nginx ]; then
	for hook in /docker-entrypoint.d/*.sh; do
		[ -x "$hook" ] || continue
		echo "$0: running $hook"
		"$hook"
	done
fi

exec "$@"
