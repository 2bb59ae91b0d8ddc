#!/usr/bin/env bash
# The out-of-tree module path, end to end (docs/writing-a-driver.md):
# install modiommu into a temporary prefix, check the installed headers
# stand alone, build examples/out-of-tree-driver from outside the tree with
# CMake and with pkg-config, run its scenario with the installed command,
# and check that a module built against another module ABI is refused.
# usage: sdk_test.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
prefix=$work/prefix
step() { echo "--- $*"; }

step install
cmake --install "$build" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/modiommu"
test -f "$prefix/lib/modiommu/modules/arm-smmu-v3.so"
test -f "$prefix/lib/modiommu/modules/modules.dep.json"
test -f "$prefix/share/modiommu/platforms/virt-smmuv3.dts"
# The driver API only: no emulated hardware beyond the RAM drivers may touch.
if find "$prefix/include/modiommu/hw" -name '*.h' ! -name memory.h | grep .; then
  echo "FAIL: hw/ headers besides memory.h installed"; exit 1
fi

step "installed headers compile on their own"
hdrs=$(cd "$prefix/include/modiommu" && find . -name '*.h' | sort)
for h in $hdrs; do echo "#include \"${h#./}\""; done >"$work/all_headers.cpp"
c++ -std=c++20 -fsyntax-only -DFMT_SHARED -I"$prefix/include/modiommu" "$work/all_headers.cpp"

step "CMake: find_package(modiommu) + modiommu_add_module"
cp -r "$src/examples/out-of-tree-driver" "$work/example"
cmake -S "$work/example" -B "$work/example/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/example/build"
(cd "$work/example/build" && ctest --output-on-failure)

step "modinfo shows the module ABI the module was built against"
abi=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --variable=abi_version modiommu)
"$prefix/bin/modiommu" modinfo "$work/example/build/sgdma.so" | tee "$work/modinfo.txt"
grep -qx "abi: $abi" "$work/modinfo.txt"
grep -qx "name: sgdma" "$work/modinfo.txt"

step "pkg-config + make"
make -C "$work/example" PKG_CONFIG_PATH="$prefix/lib/pkgconfig" sgdma.so
(cd "$work/example" && "$prefix/bin/modiommu" run "$prefix/share/modiommu/platforms/virt-smmuv3.dts" sgdma.run \
   --no-autoload >"$work/make-run.log" 2>&1) || { cat "$work/make-run.log"; exit 1; }

step "a module built against another module ABI is refused, naming both versions"
cp -r "$prefix/include" "$work/other-include"
sed -i "s/kModuleAbiVersion = $abi;/kModuleAbiVersion = $((abi + 1));/" "$work/other-include/modiommu/module/abi.h"
grep -q "kModuleAbiVersion = $((abi + 1));" "$work/other-include/modiommu/module/abi.h"
c++ -std=c++20 -O1 -fPIC -fvisibility=hidden -fno-gnu-unique -DMODIOMMU_BUILD_MODULE -DFMT_SHARED \
    -I"$work/other-include/modiommu" -shared -o "$work/sgdma-other.so" "$work/example/sgdma.cpp"
printf 'insmod %s\n' "$work/sgdma-other.so" >"$work/other.run"
set +e
"$prefix/bin/modiommu" run "$prefix/share/modiommu/platforms/virt-smmuv3.dts" "$work/other.run" --no-autoload \
  >"$work/other.log" 2>&1
rc=$?
set -e
cat "$work/other.log" | tail -3
test "$rc" = 2
grep -q "module ABI version $((abi + 1)) does not match the host's ABI version $abi" "$work/other.log"
"$prefix/bin/modiommu" modinfo "$work/sgdma-other.so" >"$work/other-modinfo.txt" 2>&1 || true
grep -q "module ABI version $((abi + 1)) does not match the host's ABI version $abi" "$work/other-modinfo.txt"
echo "sdk: all steps passed"
