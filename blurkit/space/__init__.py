"""The encoded blur kernel space: F (blur operator family) and G (kernel extractor), their blocks, heads and presets,
``KernelSpace``, joint training (Charbonnier loss), blur transfer and the blur-swap / blur-augment data tools.

May import: ``blurkit.data`` and the shared top-level modules.
"""
