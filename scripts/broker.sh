#!/usr/bin/env bash
# broker.sh -- build rewind and start the broker with the embedded
# single-node default (conf/broker.conf). Extra arguments go to
# rewind-broker, e.g. `scripts/broker.sh --set log.dirs=/var/lib/rewind`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
if [ ! -f build-run/build.ninja ]; then
	meson setup build-run -Dtests=false >/dev/null
fi
ninja -C build-run >/dev/null
exec build-run/broker/rewind-broker --config conf/broker.conf "$@"
