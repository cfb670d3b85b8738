"""Helper functions callable from eBPF programs, by kernel id and name."""

from pybpf.helpers.registry import Helper, HelperRegistry, default_registry

__all__ = ["Helper", "HelperRegistry", "default_registry"]
