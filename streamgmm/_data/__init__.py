"""Data: any input as row blocks (``source``, ``inputs``), the memory budget
(``budget``), one block and an assignment rule to statistics (``blocks``), the Dask
graph of a pass over the blocks (``passes``), and the progress display the passes
report to (``progress``).

Modules are imported by name: importing this package imports none of them.
"""
