"""The command line (typer): one module per command group, all calling the same library functions as the notebooks.

May import every blurkit package; nothing imports it.
"""

from blurkit.cli import bench, data, deblur, evaluate, reproduce, space  # noqa: F401  (each registers its commands)
from blurkit.cli.app import app, main
from blurkit.cli.baseline import baseline_app
from blurkit.cli.gan import gan_app

app.add_typer(baseline_app, name="baseline")  # SRN-Deblur and DeblurGANv2
app.add_typer(gan_app, name="gan")  # the StyleGAN2 image prior

__all__ = ["app", "main"]
