"""Teaching tools: interactive blind deconvolution (ipywidgets) and live plots, calling every solver and baseline.

May import: every lower package (baselines, deblur, space, data) and the shared top-level modules.
"""
