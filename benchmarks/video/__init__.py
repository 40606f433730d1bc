"""Video: clips made from photos whose colour truth is known, coloured per frame and stabilised
(``python -m benchmarks.video``); the stabilisation's constants chosen on held-out clips
(``python -m benchmarks.video.tune``)."""
