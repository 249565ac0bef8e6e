"""Fitting on reduced statistics: the EM loop (``em``), a fit's runs with restarts, warm
start, checkpoints and resume (``runs``), initialisation (``init``), k-means (``kmeans``)
and scikit-learn's verbose messages (``report``). Nothing here knows where the data live: passes go
through ``_data.passes``.

Modules are imported by name: importing this package imports none of them.
"""
