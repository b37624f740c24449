#!/bin/sh
# Installs what vtr's build needs on Debian/Ubuntu when it is missing (apt-get; root or sudo).
#   sh cmake/install-deps.sh            tests + examples  (cmake, ninja, g++, Eigen, xsimd, Catch2, JSON, stb)
#   sh cmake/install-deps.sh bench      adds Google Benchmark
#   sh cmake/install-deps.sh fuzz       adds clang and its sanitizer/libFuzzer runtimes
# The library itself needs only Eigen and xsimd; everything else is for vtr's own tests and tools.
set -eu
want="cmake ninja-build g++ libeigen3-dev libxsimd-dev catch2 nlohmann-json3-dev"
case "${1:-test}" in
  bench) want="$want libbenchmark-dev" ;;
  fuzz) want="$want clang libclang-rt-14-dev" ;;
  test) want="$want python3-numpy libstb-dev" ;;
  *) echo "usage: sh cmake/install-deps.sh [test|bench|fuzz]" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
