// A guest that ends itself at once through PSCI: SYSTEM_OFF by default, SYSTEM_RESET
// when assembled with -DRESET. Exercises petrel's exit codes without booting Linux.
#include "image-header.inc"
entry:
#ifdef RESET
    movz    w0, #0x0009               // PSCI_0_2_FN_SYSTEM_RESET = 0x8400_0009
#else
    movz    w0, #0x0008               // PSCI_0_2_FN_SYSTEM_OFF = 0x8400_0008
#endif
    movk    w0, #0x8400, lsl #16
    hvc     #0
    b       .
image_end:
