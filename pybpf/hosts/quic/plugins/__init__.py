"""Reference plugins in plain Python, written against the anchor table's inputs and outputs only.

They prove the anchors before the plugin framework exists, and each is meant to translate
line-for-line to an eBPF C plugin in phase 2: integer arithmetic, state in a few integer fields
(a plugin's persistent heap), no floats, no host objects.
"""
