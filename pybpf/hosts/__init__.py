"""Real protocol implementations used as pybpf plugin hosts (see ``docs/quic.md``)."""
