#!/usr/bin/env bash
# Install the Debian packages kernelbox needs to build, run and test, but only those missing.
# Usage: scripts/deps.sh [build|dev|run|test]   (build is in every level; dev adds the
# static-analysis and fuzzing tools, run what running needs; test is all of them)
set -euo pipefail

level=${1:-test}
# (libzmq3-dev is for the benchmark's raw ZeroMQ client only; kernelboxd speaks ZMTP itself)
build=(build-essential cmake pkg-config libmicrohttpd-dev libcurl4-openssl-dev libjson-c-dev
       libzmq3-dev libssl-dev libseccomp-dev python3 python3-yaml)
run=(debootstrap curl ca-certificates)
test=(libcmocka-dev python3-pytest docker-compose)
# make lint (clang-tidy, cppcheck) and the libFuzzer drivers (clang with its sanitizer and
# libFuzzer runtimes; llvm for llvm-symbolizer, which names the lines in a report).
dev=(clang libclang-rt-dev llvm clang-tidy cppcheck)

want=("${build[@]}")
case "$level" in
    build) ;;
    dev) want+=("${dev[@]}") ;;
    run) want+=("${run[@]}") ;;
    test) want+=("${run[@]}" "${test[@]}" "${dev[@]}") ;;
    *) echo "usage: $0 [build|dev|run|test]" >&2; exit 2 ;;
esac

missing=()
for pkg in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$pkg")
    fi
done
# The Docker CLI may come from docker.io or from Docker's own packages.
if ! command -v docker >/dev/null 2>&1; then
    missing+=(docker.io)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq </dev/null >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
