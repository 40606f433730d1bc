from PIL import Image

from scripts import make_people_gallery
from tests.conftest import natural_image


def test_every_photo_goes_through_every_model_side_by_side(tmp_path, tiny_checkpoint):
    colour, old = tmp_path / "colour.jpg", tmp_path / "old scan, 1936.jpg"
    natural_image(60, 80, seed=1).save(colour)
    natural_image(60, 80, seed=2).convert("L").save(old)
    out = tmp_path / "people"
    assert make_people_gallery.main(["--checkpoints", tiny_checkpoint, tiny_checkpoint, "--with-truth", str(colour),
                                     "--old", str(old), "--out", str(out), "--height", "60"]) == 0
    table = (out / "people.md").read_text().splitlines()
    assert len(table) == 4  # header, rule, one row per photo
    assert " dB" in table[2] and " dB" not in table[3]  # a gain only where there is a truth
    # grey input, two models, truth: four panels; the old photo has no truth: three
    widths = [Image.open(out / name).width for name in ("colour.jpg", "old_scan_1936.jpg")]
    assert widths[0] > widths[1] * 1.25
