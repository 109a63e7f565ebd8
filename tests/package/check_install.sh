#!/usr/bin/env bash
# Install tree, find_package consumer and .deb checks (ctest: package.*).
# Usage: check_install.sh BUILD_DIR install|consumer|deb
set -euo pipefail
build=$(cd "$1" && pwd)
what=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

case "$what" in
  install)
    cmake --install "$build" --prefix "$work/p" >/dev/null
    for f in bin/garbage share/garbage/configs/simple_cnn.json share/doc/garbage/README.md \
             share/doc/garbage/architecture.md; do
      [[ -f $work/p/$f ]] || fail "$f not installed"
    done
    [[ ! -e $work/p/include/garbage ]] || fail "headers installed without --component dev"
    "$work/p/bin/garbage" --version | grep -q "garbage" || fail "installed binary does not run"
    cmake --install "$build" --prefix "$work/p" --component dev >/dev/null
    for f in include/garbage/models/registry.hpp lib/libgarbage_core.a \
             lib/cmake/garbage/garbageConfig.cmake lib/cmake/garbage/garbageTargets.cmake; do
      [[ -f $work/p/$f ]] || fail "$f not installed by --component dev"
    done
    echo "install tree ok"
    ;;
  consumer)
    cmake --install "$build" --prefix "$work/p" --component dev >/dev/null
    mkdir -p "$work/consumer"
    cat > "$work/consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.18)
project(consumer CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(garbage REQUIRED)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE garbage::garbage_core)
CMAKE
    cat > "$work/consumer/main.cpp" <<'CPP'
#include <iostream>
#include "garbage/models/registry.hpp"
int main() {
  const auto& spec = garbage::models::find_model("resnet18");
  std::cout << spec.name << " " << spec.input_size << " " << spec.pretrained.at(0).file << "\n";
}
CPP
    cmake -S "$work/consumer" -B "$work/consumer/build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$work/p" >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "consumer configure"; }
    cmake --build "$work/consumer/build" -j2 >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "consumer build"; }
    out=$("$work/consumer/build/consumer")
    [[ $out == "resnet18 224 resnet18-f37072fd.pth" ]] || fail "consumer printed: $out"
    echo "find_package consumer ok: $out"
    ;;
  deb)
    (cd "$build" && cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
    deb=$(ls "$work"/pkg/*.deb)
    info=$(dpkg-deb --info "$deb")
    depends=$(echo "$info" | sed -n 's/^ Depends: //p')
    for pkg in libtorch1.13 libopencv-core libspdlog libsqlite3 libprotobuf libyaml-cpp libopenblas0; do
      [[ $depends == *"$pkg"* ]] || fail "Depends lacks $pkg: $depends"
    done
    contents=$(dpkg-deb --contents "$deb")
    for f in ./usr/bin/garbage ./usr/share/garbage/configs/simple_cnn.json ./usr/share/doc/garbage/README.md; do
      grep -q " $f\$" <<<"$contents" || fail "$f not in the package"
    done
    grep -q "include/garbage" <<<"$contents" && fail "headers in the runtime package"
    echo "deb ok: $(basename "$deb") $(stat -c %s "$deb") bytes; Depends: $depends"
    ;;
  *) fail "unknown check $what" ;;
esac
