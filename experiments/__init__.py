"""The paper's experiments: encoder depth and U-Net vs GAN (python -m experiments)."""
