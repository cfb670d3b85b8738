"""aioquic 1.7.2 as a pluginizable QUIC host (issue 8, phase 1: anchors, harness, reference plugins).

Modules: :mod:`.table` (the anchor and field table), :mod:`.dispatch` (the per-connection
dispatcher interface), :mod:`.anchors` (the interception layer), :mod:`.link` and :mod:`.harness`
(deterministic in-memory transfers), :mod:`.udp` (the same over loopback), :mod:`.plugins`
(Python reference plugins), :mod:`.controllers` (named setups).  See ``docs/quic.md``.
"""
