"""A static verifier for eBPF programs (abstract interpretation, Linux-style path exploration).

``verify(insns, prog_type, maps=..., platform=...)`` proves a program safe for a program type of
a platform (:mod:`pybpf.progtypes.platform`) or raises :class:`VerifierError` naming the
instruction, the reason and the abstract values involved.  See :mod:`pybpf.verifier.analyzer`
for the design (domains in :mod:`~pybpf.verifier.scalar` and :mod:`~pybpf.verifier.state`,
pruning in :mod:`~pybpf.verifier.prune`, termination, callbacks).
"""

from pybpf.verifier.api import verify, verify_object
from pybpf.verifier.result import InsnProof, VerifierError, VerifierOptions, VerifierResult

__all__ = ["InsnProof", "VerifierError", "VerifierOptions", "VerifierResult", "verify", "verify_object"]
