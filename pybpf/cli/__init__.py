"""The ``pybpf`` command line."""
