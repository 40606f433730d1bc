"""Training and evaluation of the colorization U-Net (the method's loss schedule, optional GAN)."""
