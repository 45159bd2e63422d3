"""Blind deblurring in the kernel space: image and kernel priors (DIP), the Eq. 6 solver (Algorithm 1 and the fast
path), kernel retrieval, image metrics (OCR included), the deblur-files driver and the generator-manifold solver
(Sec. 3.3).

May import: ``blurkit.space``, ``blurkit.generator``, ``blurkit.data`` and the shared top-level modules.
"""
