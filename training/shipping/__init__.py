"""Making a checkpoint to ship from trained ones: weight averages (SWA, model soups) and the hint decoder
joined to the automatic model it was made from. The chroma gain is chosen by evaluation.calibrate."""
