// Test-only kernel module for the emulated machine of run.sh: Bochs 2.7 reports an XSAVE area layout that
// Linux 6.1 rejects ("XSAVE consistency problem"), after which the kernel leaves XSAVE off and every AVX
// instruction faults. This sets CR4.OSXSAVE (through the kernel's CR4 shadow, so that it stays set) and
// XCR0 = x87 | SSE | AVX | opmask | ZMM_Hi256 | Hi16_ZMM. The kernel still saves only the legacy state on
// a context switch, which is enough here: one test process runs at a time and nothing else uses vectors.
#include <linux/module.h>  // first: the asm headers below need its types
#include <asm/fpu/xcr.h>
#include <asm/tlbflush.h>

static int __init vtr_xcr0_init(void) {
  cr4_set_bits(X86_CR4_OSXSAVE);
  xsetbv(XCR_XFEATURE_ENABLED_MASK, 0xE7);
  pr_info("vtr_xcr0: XCR0 = %llx\n", (unsigned long long)xgetbv(XCR_XFEATURE_ENABLED_MASK));
  return 0;
}
static void __exit vtr_xcr0_exit(void) {}
module_init(vtr_xcr0_init);
module_exit(vtr_xcr0_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vtr tests: AVX-512 register state on an emulator whose XSAVE layout Linux rejects");
