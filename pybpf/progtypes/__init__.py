"""Program types: section names, the platform the verifier reads, contexts, packet helpers, test_run.

Importing the package registers the redirect map types (DEVMAP, DEVMAP_HASH, CPUMAP, XSKMAP) with
the maps factory, so objects that declare them load.
"""

from pybpf.progtypes import devmap as _devmap  # noqa: F401
