"""Loading clang-built eBPF ELF objects: ELF container, BTF, maps, relocations."""
