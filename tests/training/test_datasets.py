import urllib.error

import pytest

from training import datasets


def test_download_without_network_fails_clearly(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", offline)
    assert datasets.main(["download", "div2k", "--to", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cannot download https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip" in err
    assert not list(tmp_path.glob("*.part"))


def test_landscape_needs_kaggle_credentials(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.main(["download", "landscape", "--to", str(tmp_path / "d")]) == 1
    assert "credentials" in capsys.readouterr().err


def test_checksums_are_recorded_and_enforced(tmp_path):
    archive = tmp_path / "x.zip"
    archive.write_bytes(b"abc")
    digest = datasets.verify(archive, None)
    assert (tmp_path / "SHA256SUMS").read_text() == f"{digest}  x.zip\n"
    assert datasets.verify(archive, digest) == digest
    with pytest.raises(datasets.DownloadError, match="does not match"):
        datasets.verify(archive, "0" * 64)
