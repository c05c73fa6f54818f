#!/usr/bin/env bash
# deps.sh -- install what rewind needs on Debian, only what is missing.
#
#   scripts/deps.sh build   compilers and libraries to build the broker and tools
#   scripts/deps.sh test    the above plus test tools and real Kafka clients
#
# Idempotent: packages already installed are not touched, and apt-get runs
# (with one `apt-get update`) only when something is missing. Needs root to
# install; as another user it says what is missing and stops.
set -euo pipefail

build_pkgs=(gcc meson ninja-build pkg-config
	libevent-dev liburing-dev libxxhash-dev liblz4-dev libzstd-dev
	zlib1g-dev libsnappy-dev)
test_pkgs=(check libsubunit-dev fio iperf3 iproute2 python3
	kcat librdkafka-dev python3-kafka python3-confluent-kafka
	python3-lz4 python3-snappy python3-zstandard
	clang libclang-rt-14-dev)

want=("${build_pkgs[@]}")
if [ "${1:-build}" = test ]; then
	want+=("${test_pkgs[@]}")
	# The kafkajs test needs node and npm: the ones on PATH if present
	# (an image may bring its own), else Debian's.
	command -v node >/dev/null || want+=(nodejs)
	command -v npm >/dev/null || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}" >&2
	echo "deps.sh: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
