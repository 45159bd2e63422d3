"""Baselines the paper compares with: SelfDeblur, a classical MAP deconvolution, non-blind oracles, and the
learned SRN-Deblur and DeblurGANv2 with their configs and training.

May import: ``blurkit.deblur``, ``blurkit.space``, ``blurkit.data`` and the shared top-level modules.
"""
