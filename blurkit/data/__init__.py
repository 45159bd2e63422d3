"""Data: image I/O, the photo manifest, camera response curves, kernels, GOPRO/REDS-style blur synthesis, the default
and real datasets, pair folders and their status.

May import: the shared top-level modules (errors, paths, files, profiles, provenance, paper, plots) only.
"""
