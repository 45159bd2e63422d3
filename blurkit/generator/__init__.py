"""The StyleGAN2 image prior of the paper's Sec. 3.3 (deblurring on a GAN's image manifold, PULSE-style): the
generator in rosinality's layout (:mod:`~blurkit.generator.stylegan2`), a discriminator to train it
(:mod:`~blurkit.generator.discriminator`), and loaders for rosinality ``.pt``, NVIDIA stylegan2-ada ``.pkl`` (with a
restricted unpickler that runs no code from the file) and blurkit's own checkpoints
(:mod:`~blurkit.generator.checkpoints`).

May import: the shared top-level modules (errors, paths, files, profiles, provenance, progress) only.
"""
