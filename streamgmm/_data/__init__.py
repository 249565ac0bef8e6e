"""Data: any input as row blocks (``source``, ``inputs``), the memory budget
(``budget``), one block and an assignment rule to statistics (``blocks``; a block with
missing values, ``missing``), the Dask graph of a pass over the blocks (``passes``), the
progress display the passes report to (``progress``), and the mean-filled view of the
data that a start with missing values reads (``fill``).

Modules are imported by name: importing this package imports none of them.
"""
