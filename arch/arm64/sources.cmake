# arm64: what builds and describes a guest everywhere (image, layout, device tree, board),
# and on an arm64 host the KVM machine; elsewhere a stand-in that says it cannot run guests.
set(PETREL_ARCH_SOURCES
    arch/arm64/image.cc
    arch/arm64/layout.cc
    arch/arm64/fdt.cc
    arch/arm64/board.cc
    arch/arm64/describe.cc)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  list(APPEND PETREL_ARCH_SOURCES arch/arm64/kvm.cc arch/arm64/vcpu.cc arch/arm64/gic.cc
       arch/arm64/machine.cc)
else()
  list(APPEND PETREL_ARCH_SOURCES arch/arm64/no_kvm.cc)
endif()
