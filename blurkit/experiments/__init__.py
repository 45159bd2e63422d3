"""Experiments: the protocol behind each paper table and figure, the benchmarks, the work-folder cache and the
papermill driver behind ``blurkit reproduce``, and batch evaluation (``blurkit evaluate``) with its torchrun
sharding.

May import: every lower package (baselines, deblur, space, data) and the shared top-level modules.
"""
