"""scripts.pack_training_subset: what a lent GPU machine takes along."""

import zipfile

from scripts import pack_training_subset as pack
from training.data import run_split


def _photos(folder, names, size=1000):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x" * size)
    return sorted(folder / n for n in names)


def test_choose_keeps_the_budget_the_caps_and_takes_last_prefixes_last(tmp_path):
    files = _photos(tmp_path, [f"intelscene_{i}.jpg" for i in range(10)] + [f"flowers_{i}.jpg" for i in range(6)]
                    + [f"bsds_{i}.jpg" for i in range(3)])
    chosen = pack.choose(files, budget=9_000, caps={"flowers_": 4}, last=["intelscene_"], seed=0)
    names = [f.name for f in chosen]
    assert len(chosen) == 9  # 1,000 bytes each within 9,000
    assert sum(n.startswith("flowers_") for n in names) == 4  # the cap
    assert sum(n.startswith("bsds_") for n in names) == 3  # every photo of the others first ...
    assert sum(n.startswith("intelscene_") for n in names) == 2  # ... the last prefix fills the rest
    assert pack.choose(files, 9_000, {"flowers_": 4}, ["intelscene_"], seed=0) == chosen  # reproducible


def test_main_never_packs_a_held_out_photo_for_training_and_zips_it_all(tmp_path):
    data = tmp_path / "train"
    _photos(data, [f"photo_{i:03d}.jpg" for i in range(100)])
    out = tmp_path / "pack"
    pack.main(["--data", str(data), "--out", str(out), "--budget-mib", "1", "--val-images", "5", "--zip"])
    train, val = run_split([data], None, 0.02, 0)
    packed_train = {p.name for p in (out / "train").iterdir()}
    assert {p.name for p in (out / "val").iterdir()} == {p.name for p in val[:5]}
    assert packed_train == {p.name for p in train} and not packed_train & {p.name for p in val}
    with zipfile.ZipFile(out.with_suffix(".zip")) as zf:
        assert sorted(zf.namelist()) == sorted(f"pack/{p.relative_to(out)}" for p in out.rglob("*") if p.is_file())
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def test_parts_hold_every_packed_photo_once_each_within_its_budget_held_out_by_hash(tmp_path):
    data = tmp_path / "train"
    _photos(data, [f"photo_{i:03d}.jpg" for i in range(300)], size=10_000)
    out = tmp_path / "pack"
    # 300 photos of 10 kB: 3 parts of 1 MiB hold them all, so none is left behind
    pack.main(["--data", str(data), "--out", str(out), "--budget-mib", "1", "--parts", "3", "--split", "hash",
               "--val-images", "4", "--zip"])
    train, val = run_split([data], None, 0.02, 0, "hash")
    members = []
    for k in (1, 2, 3):
        part = tmp_path / f"pack.part{k}.zip"
        with zipfile.ZipFile(part) as zf:
            infos = zf.infolist()
        assert sum(i.file_size for i in infos) <= 2**20
        members += [i.filename for i in infos]
    assert len(members) == len(set(members)) == len(train) + 4
    assert {m for m in members if m.startswith("pack/val/")} == {f"pack/val/{p.name}" for p in val[:4]}
    with zipfile.ZipFile(tmp_path / "pack.part1.zip") as zf:  # the held-out photos travel first
        assert all(f"pack/val/{p.name}" in zf.namelist() for p in val[:4])
    assert not {m.split("/")[-1] for m in members if m.startswith("pack/train/")} & {p.name for p in val}


def test_spread_refuses_what_does_not_fit(tmp_path):
    files = _photos(tmp_path, [f"p{i}.jpg" for i in range(5)], size=1000)
    assert [len(p) for p in pack.spread(files, 2500, 3)] == [2, 2, 1]
    try:
        pack.spread(files, 1500, 3)
    except ValueError as exc:
        assert "do not fit" in str(exc)
    else:
        raise AssertionError("five photos of 1,000 bytes fit three parts of 1,500")


def test_one_part_budget_is_the_training_photos_alone(tmp_path):
    data = tmp_path / "train"
    _photos(data, [f"photo_{i:03d}.jpg" for i in range(11)])  # 1 held out, 10 for training: 10,000 bytes
    out = tmp_path / "pack"
    pack.main(["--data", str(data), "--out", str(out), "--budget-mib", str(10_003 / 2**20)])
    assert len(list((out / "train").iterdir())) == 10 and len(list((out / "val").iterdir())) == 1
