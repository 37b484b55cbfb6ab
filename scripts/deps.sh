#!/usr/bin/env bash
# Installs the Debian packages Historian builds and tests with, but only the
# ones that are missing, so a second run costs nothing. Needs root (or sudo)
# on Debian 12. Set HIST_DEPS_EXTRA to add packages (the benches add peers).
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      liblmdb-dev libzstd-dev libuv1-dev libprotobuf-c-dev protobuf-c-compiler
      liburing-dev libhttp-parser-dev libjansson-dev libssl-dev openssl
      libcurl4-openssl-dev zlib1g-dev libcsv-dev libsystemd-dev tzdata curl mosquitto mosquitto-clients
      help2man
      ${HIST_DEPS_EXTRA:-})
missing=()
for p in "${pkgs[@]}"; do
    grep -q "install ok installed" <<<"$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
