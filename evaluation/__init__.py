"""Judging models: the bench evaluation beside the grey baseline, held-out reports (per source, faces by
skin-tone group, hints, render sizes), the encoder study, and the chroma gain chosen on held-out photos."""
