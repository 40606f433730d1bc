import pytest

from tests.conftest import natural_image


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """30 small colour photos in nested folders, plus a grey one and a broken one (both skipped)."""
    root = tmp_path_factory.mktemp("photos")
    (root / "a" / "b").mkdir(parents=True)
    for i in range(30):
        folder = root / ("a/b" if i % 3 == 0 else "a" if i % 3 == 1 else "")
        natural_image(72, 96, seed=i).save(folder / f"img{i}.{'png' if i % 2 else 'jpg'}")
    natural_image(72, 96, seed=99).convert("L").convert("RGB").save(root / "grey.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root
