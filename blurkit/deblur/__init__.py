"""Blind deblurring in the kernel space: image and kernel priors (DIP), the Eq. 6 solver (Algorithm 1 and the fast
path), kernel retrieval, image metrics and the deblur-files driver.

May import: ``blurkit.space``, ``blurkit.data`` and the shared top-level modules.
"""
