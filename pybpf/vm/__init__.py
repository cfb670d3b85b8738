"""The machine: memory model and the reference interpreter."""

from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Memory, Region

__all__ = ["Interpreter", "Memory", "Region"]
