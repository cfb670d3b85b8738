"""``python -m pybpf`` runs the command line."""

import sys

from pybpf.cli.main import main

sys.exit(main())
