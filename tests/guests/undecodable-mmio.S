// A guest that makes an MMIO access KVM cannot decode: a load pair from device space
// (the virtio-mmio window, where nothing lives in this config). KVM has no instruction
// syndrome for it, so petrel must stop with VCPU_RUNTIME_FAILURE naming the PC.
#include "image-header.inc"
entry:
    movz    x2, #0x0a00, lsl #16      // 0x0a00_0000
    ldp     x3, x4, [x2]
    b       .                          // not reached
image_end:
