"""blurkit: a reproducibility package for "Explore Image Deblurring via Encoded Blur Kernel Space" (CVPR 2021)."""

__version__ = "0.1.0"

from blurkit.errors import BlurkitError  # noqa: E402

__all__ = ["BlurkitError", "__version__"]
