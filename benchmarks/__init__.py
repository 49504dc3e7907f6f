"""kdl's benchmarks: each a module with ``main(argv) -> dict``, run as
``python -m benchmarks.NAME`` from the repository root, writing its result with its
provenance to ``benchmarks/results/NAME-MACHINE.json`` (see ``benchmarks/README.md``);
``make docs`` renders the results into the performance page."""
