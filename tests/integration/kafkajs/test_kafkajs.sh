#!/usr/bin/env bash
# test_kafkajs.sh BROKER [SCRIPT] -- runs SCRIPT (default test_kafkajs.js, a
# file beside this one; kafkajs 2.2.4) against BROKER.
#
# Installs kafkajs from package-lock.json (`npm ci`, into node_modules/ beside
# this script, which git ignores) when it is missing or not the locked
# version; with node_modules in place nothing is fetched, so the test runs
# offline. Skips (77) when node or npm is not installed (scripts/deps.sh test
# installs them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 77; }
want=$(node -e 'console.log(require(process.argv[1]).packages["node_modules/kafkajs"].version)' \
	"$here/package-lock.json")
have=$(node -e 'try { console.log(require(process.argv[1]).version) } catch (e) { console.log("none") }' \
	"$here/node_modules/kafkajs/package.json")
if [ "$have" != "$want" ]; then
	command -v npm >/dev/null || { echo "SKIP: npm not installed"; exit 77; }
	echo "installing kafkajs $want (have: $have)"
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error) ||
		{ echo "FAIL: npm ci in $here"; exit 1; }
fi
export KAFKAJS_NO_PARTITIONER_WARNING=1
exec node "$here/${2:-test_kafkajs.js}" "$1"
