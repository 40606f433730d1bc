"""Training the colorization U-Net: the method's loss schedule, optional GAN, data, precision and processes;
training.shipping makes the checkpoint to ship. Judging models lives in evaluation/."""
