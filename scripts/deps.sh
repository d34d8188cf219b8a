#!/usr/bin/env bash
# scripts/deps.sh — install the Debian packages weir needs to build, test and demo.
# As root it installs what is missing (apt-get); otherwise it names what to install.
set -euo pipefail

PACKAGES=(
  build-essential meson ninja-build pkg-config
  libnng-dev libprotobuf-c-dev protobuf-c-compiler librocksdb-dev zlib1g-dev librdkafka-dev
  libuv1-dev libyaml-dev libxxhash-dev libcmocka-dev libmicrohttpd-dev libcjson-dev
  kcat python3 procps iproute2 clang-format
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "weir needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
