#!/usr/bin/env bash
# Runs the AVX-512 kernel tests (test_kernels_avx512) and the run-time dispatch test on an emulated
# AVX-512 CPU, for hosts without one (where test_kernels_avx512 skips itself with exit 77).
#
#   tests/emulated/run.sh [work-dir [catch2-arguments...]]   # default work-dir: build/emulated
#
# Catch2 arguments (a test spec, e.g. '*topk*' or '~*density*') narrow the kernel tests; the dispatch
# test always runs whole. Without arguments every kernel test runs but one: "half: float → binary16 rounds
# to nearest even" cross-checks vtr's conversion against the compiler's _Float16 cast, which is F16C's
# VCVTPS2PH, and Bochs 2.7 rounds that instruction's tie 2^-25 up to the smallest subnormal (hardware, and
# vtr, round it to 0). vtr's conversion is scalar code, the same at every SIMD level, tested natively.
# Everything comes from Debian packages: Bochs (2.7, Skylake-X model: AVX-512 F/CD/BW/DQ/VL) boots
# Debian's kernel from an ISO whose initramfs holds the two tests, linked statically, and a small /init
# (init.c) that runs them and powers off; the serial console is written to <work-dir>/serial.log.
# Bochs 2.7's XSAVE layout fails Linux's checks, so the kernel keeps XSAVE off; a test-only module
# (vtr_xcr0.c) turns the AVX/AVX-512 state back on. Missing packages are installed with apt-get (root or
# sudo); the kernel image is only downloaded and unpacked, never installed. Emulation is slow: the whole
# run took 20 minutes on one Zen 3 core (2 of them booting). Exit status 0 only when both tests ran their
# AVX-512 code and passed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-$root/build/emulated}
shift || true
mkdir -p "$work"
work=$(cd "$work" && pwd)
timeout_s=${VTR_EMULATED_TIMEOUT:-7200}

# ---- Packages ---------------------------------------------------------------------------------------
kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kernel_pkg" ] || { echo "run.sh: cannot find the kernel package behind linux-image-amd64" >&2; exit 1; }
release=${kernel_pkg#linux-image-}
packages=(bochs bochsbios vgabios isolinux syslinux-common xorriso cpio gcc make cmake ninja-build "linux-headers-$release")
sh "$root/cmake/install-deps.sh"  # what the tests build with
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "run.sh: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- Kernel image (unpacked, not installed) ------------------------------------------------------------
vmlinuz="$work/kernel/boot/vmlinuz-$release"
if [ ! -f "$vmlinuz" ]; then
  rm -rf "$work/kernel" "$work"/linux-image-*.deb
  (cd "$work" && apt-get download "$kernel_pkg")
  dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"
fi

# ---- The tests, linked statically (the initramfs has no libraries) ---------------------------------------
cmake -S "$root" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVTR_BUILD_TESTS=ON \
  -DVTR_BUILD_EXAMPLES=OFF -DVTR_BUILD_BENCHMARKS=OFF -DCMAKE_EXE_LINKER_FLAGS=-static >/dev/null
cmake --build "$work/build" --target test_kernels_avx512 test_dispatch

# ---- The module that turns the AVX-512 state on ----------------------------------------------------
mkdir -p "$work/module"
rm -f "$work/module/vtr_xcr0.ko"
cp "$here/vtr_xcr0.c" "$work/module/"
echo 'obj-m := vtr_xcr0.o' > "$work/module/Makefile"
make -s -C "/usr/src/linux-headers-$release" M="$work/module" modules 2>&1 | grep -v "Skipping BTF" || true
[ -f "$work/module/vtr_xcr0.ko" ] || { echo "run.sh: the module did not build" >&2; exit 1; }

# ---- Initramfs and boot ISO -------------------------------------------------------------------------
rm -rf "$work/initramfs" "$work/iso"
mkdir -p "$work/initramfs/proc" "$work/initramfs/dev" "$work/iso/isolinux"
gcc -O2 -static -o "$work/initramfs/init" "$here/init.c"
strip -o "$work/initramfs/test_kernels_avx512" "$work/build/tests/test_kernels_avx512"
strip -o "$work/initramfs/test_dispatch" "$work/build/tests/dispatch/test_dispatch"
cp "$work/module/vtr_xcr0.ko" "$work/initramfs/"
if [ $# -eq 0 ]; then set -- '~half: float → binary16 rounds to nearest even*'; fi
printf '%s\n' "$@" > "$work/initramfs/args"
mkdir -p "$work/initramfs/golden"
cp -r "$root/tests/golden/dpc_knn.cluster" "$root/tests/golden/prunevid.refine" "$root/tests/golden/tome.bipartite" \
  "$work/initramfs/golden/"
(cd "$work/initramfs" && find . | cpio -o -H newc --quiet | gzip -1 > "$work/iso/isolinux/initrd.gz")
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$work/iso/isolinux/"
cp "$vmlinuz" "$work/iso/isolinux/vmlinuz"
cat > "$work/iso/isolinux/isolinux.cfg" <<'EOF'
DEFAULT vtr
PROMPT 0
TIMEOUT 0
LABEL vtr
  KERNEL vmlinuz
  APPEND initrd=initrd.gz console=ttyS0,115200 quiet panic=-1 nokaslr mitigations=off
EOF
rm -f "$work/vtr.iso"
xorriso -as mkisofs -quiet -o "$work/vtr.iso" -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot \
  -boot-load-size 4 -boot-info-table "$work/iso" 2>"$work/xorriso.log" || { cat "$work/xorriso.log" >&2; exit 1; }

# ---- Bochs ------------------------------------------------------------------------------------------
# No display (a VNC server that waits for nobody), no sound (its mixer thread aborts without a sound card),
# the clock driven by the instruction count; the guest's power-off ends Bochs.
cat > "$work/bochsrc" <<EOF
megs: 1024
cpu: model=corei7_skylake_x, count=1, ips=400000000
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
ata0-master: type=cdrom, path=$work/vtr.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=$work/serial.log
display_library: rfb, options="timeout=0"
speaker: enabled=0
sound: driver=dummy
clock: sync=none, time0=local
log: $work/bochs.log
panic: action=fatal
error: action=report
info: action=ignore
debug: action=ignore
EOF
rm -f "$work/serial.log"
echo "run.sh: booting the emulated Skylake-X machine (serial console: $work/serial.log)"
# Debian's Bochs has its debugger built in, which stops at the first instruction: "c" continues.
echo c | timeout "$timeout_s" bochs-bin -q -f "$work/bochsrc" >"$work/bochs.out" 2>&1 || true

# ---- Verdict ----------------------------------------------------------------------------------------
log=$(sed 's/\x1b\[[0-9;]*m//g' "$work/serial.log" 2>/dev/null | tr -d '\r' || true)
grep -E '^(VTR-|vtr tests, SIMD arch|All tests passed|test cases:|assertions:)' <<<"$log" || true
ok=1
grep -qx 'VTR-MODULE loaded' <<<"$log" || { echo "run.sh: the XCR0 module did not load" >&2; ok=0; }
grep -qx 'vtr tests, SIMD arch avx512bw' <<<"$log" || { echo "run.sh: the kernel tests did not run at AVX-512" >&2; ok=0; }
grep -q 'arches run in this process:.*avx512' <<<"$log" || { echo "run.sh: the dispatch test did not run its AVX-512 unit" >&2; ok=0; }
for t in test_kernels_avx512 test_dispatch; do
  grep -qx "VTR-RESULT $t 0" <<<"$log" || { echo "run.sh: $t did not pass (see $work/serial.log)" >&2; ok=0; }
done
grep -qx 'VTR-DONE' <<<"$log" || { echo "run.sh: the run did not finish within ${timeout_s} s" >&2; ok=0; }
[ "$ok" = 1 ] && echo "run.sh: AVX-512 tests passed on the emulated CPU"
[ "$ok" = 1 ]
