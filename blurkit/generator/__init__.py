"""The StyleGAN2 image prior of the paper's Sec. 3.3 (deblurring on a GAN's image manifold, PULSE-style): the
generator in rosinality's layout (:mod:`~blurkit.generator.stylegan2`, its native ops in
:mod:`~blurkit.generator.ops`), a discriminator (:mod:`~blurkit.generator.discriminator`), its training
(:mod:`~blurkit.generator.gan_config`, :mod:`~blurkit.generator.gan_train`), and loaders for rosinality ``.pt``,
NVIDIA stylegan2-ada ``.pkl`` (with a restricted unpickler that runs no code from the file,
:mod:`~blurkit.generator.network_pickle`) and blurkit's own checkpoints (:mod:`~blurkit.generator.checkpoints`).

May import: ``blurkit.data`` (image files) and the shared top-level modules.
"""
