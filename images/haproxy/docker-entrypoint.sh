#!/bin/sh
# Same behaviour as the official haproxy image's entrypoint.
set -e
# first argument is an option (-f, --something): run haproxy with these options
if [ "${1#-}" != "$1" ]; then
    set -- haproxy "$@"
fi
if [ "$1" = 'haproxy' ]; then
    shift
    # -W: master-worker (reload with SIGUSR2), -db: stay in the foreground
    set -- haproxy -W -db "$@"
fi
exec "$@"
