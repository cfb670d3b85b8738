"""Helper functions by id and by name.

A helper is a Python callable ``func(env, r1, r2, r3, r4, r5) -> int``.  ``env`` is the running
program's environment (:class:`pybpf.vm.interpreter.Environment`): it gives the helper the memory
model (``env.memory``) so pointer arguments are read and written through the same checks as the
program's own loads and stores.  The return value goes to r0, reduced modulo 2**64, so a helper
returns negative errno values as plain negative ints the way the kernel does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

HelperFunc = Callable[..., int]


@dataclass(frozen=True)
class Helper:
    """``table``: the helper's result for ``r1 = i`` is entry ``i`` of the engine's argument table
    (:meth:`~pybpf.vm.interpreter.Interpreter.set_table`) whenever ``i`` is inside the table, and
    ``func`` agrees with it there.  Engines may then answer without calling ``func`` (the JIT reads
    the entry inline, sparing a crossing into Python); outside the table ``func`` always runs."""

    id: int
    name: str
    func: HelperFunc
    doc: str = ""
    table: bool = False


class HelperRegistry:
    """A set of helpers.  Registries are cheap to copy so a program can get its own."""

    def __init__(self, helpers: list[Helper] | None = None) -> None:
        self._by_id: dict[int, Helper] = {}
        self._by_name: dict[str, Helper] = {}
        for h in helpers or ():
            self.add(h)

    def add(self, helper: Helper) -> Helper:
        self._by_id[helper.id] = helper
        self._by_name[helper.name] = helper
        return helper

    def register(self, id: int, name: str | None = None) -> Callable[[HelperFunc], HelperFunc]:
        """Decorator form of :meth:`add`; the name defaults to the function's."""

        def wrap(func: HelperFunc) -> HelperFunc:
            self.add(Helper(id, name or func.__name__, func, (func.__doc__ or "").strip()))
            return func

        return wrap

    def get(self, id: int) -> Helper | None:
        return self._by_id.get(id)

    def by_name(self, name: str) -> Helper | None:
        return self._by_name.get(name)

    def id_of(self, name: str) -> int | None:
        """The id of a helper named as C code names it (``bpf_map_lookup_elem`` or without ``bpf_``);
        the loader resolves extern calls with it."""
        helper = self._by_name.get(name.removeprefix("bpf_"))
        return helper.id if helper is not None else None

    def __contains__(self, id: object) -> bool:
        return id in self._by_id

    def __iter__(self) -> Iterator[Helper]:
        return iter(sorted(self._by_id.values(), key=lambda h: h.id))

    def copy(self) -> HelperRegistry:
        return HelperRegistry(list(self._by_id.values()))


def default_registry() -> HelperRegistry:
    """Every helper pybpf implements, under its Linux id and name (see :mod:`pybpf.helpers.kernel`).

    Id 5 is ``bpf_ktime_get_ns``, as in Linux: the conformance suite calls helper 5 (with r1 = -1)
    and only needs the call to return and the program to go on, which it does.
    """
    from pybpf.helpers.kernel import register_kernel_helpers
    from pybpf.helpers.maps import register_map_helpers

    return register_map_helpers(register_kernel_helpers(HelperRegistry()))
