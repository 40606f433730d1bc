"""Download the method's original data sets: ``python -m training.datasets download div2k|landscape --to DIR``.

- div2k: DIV2K train + validation HR photos (800 + 100) from the official ETH Zurich site.
- landscape: Kaggle "Landscape Pictures" (arnaud58/landscape-pictures) through the Kaggle API; needs
  the ``kaggle`` package and credentials (~/.kaggle/kaggle.json or KAGGLE_USERNAME / KAGGLE_KEY).

Every archive is checked against a SHA-256: the one given with ``--sha256 NAME=HEX``, else the one
recorded in DIR/SHA256SUMS by an earlier download (the first download records it). With no network
this fails with a clear message rather than a traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

DIV2K_BASE = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
DIV2K_FILES = ["DIV2K_train_HR.zip", "DIV2K_valid_HR.zip"]
KAGGLE_LANDSCAPE = "arnaud58/landscape-pictures"


class DownloadError(RuntimeError):
    """A data set could not be obtained or verified."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _recorded(folder: Path) -> dict[str, str]:
    sums = folder / "SHA256SUMS"
    if not sums.exists():
        return {}
    return {name: digest for digest, name in (line.split(None, 1) for line in sums.read_text().split("\n") if line)}


def verify(path: Path, expected: str | None) -> str:
    """Check ``path`` against ``expected`` (if any) and record its digest in SHA256SUMS."""
    digest = sha256_of(path)
    if expected and digest != expected.lower():
        raise DownloadError(f"{path.name}: SHA-256 {digest} does not match the expected {expected}")
    sums = _recorded(path.parent)
    sums[path.name] = digest
    (path.parent / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in sorted(sums.items())))
    return digest


def fetch(url: str, target: Path, timeout: float = 30.0) -> None:
    """Download ``url`` to ``target`` (via a .part file), with a progress bar."""
    from tqdm import tqdm

    part = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, part.open("wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, file=sys.stderr) as bar:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"cannot download {url}: {exc}. Is this machine connected to the internet?") from exc
    part.replace(target)


def download_div2k(to: Path, expected: dict[str, str]) -> list[Path]:
    to.mkdir(parents=True, exist_ok=True)
    known = {**_recorded(to), **expected}
    folders = []
    for name in DIV2K_FILES:
        archive = to / name
        if not archive.exists():
            fetch(DIV2K_BASE + name, archive)
        verify(archive, known.get(name))
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad:
                raise DownloadError(f"{name}: corrupt member {bad}")
            zf.extractall(to)
        folders.append(to / name.removesuffix(".zip"))
    return folders


def download_landscape(to: Path, expected: dict[str, str]) -> list[Path]:
    has_file = (Path.home() / ".kaggle" / "kaggle.json").exists()
    if not (has_file or (os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"))):
        raise DownloadError("the Kaggle API needs credentials: ~/.kaggle/kaggle.json or KAGGLE_USERNAME and "
                            "KAGGLE_KEY (create a token at kaggle.com > Settings > API)")
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError as exc:
        raise DownloadError("the Kaggle API package is not installed: pip install kaggle") from exc
    to.mkdir(parents=True, exist_ok=True)
    api = KaggleApi()
    try:
        api.authenticate()
        api.dataset_download_files(KAGGLE_LANDSCAPE, path=str(to), unzip=False, quiet=False)
    except Exception as exc:  # the Kaggle client raises many kinds; all mean "not obtained"
        raise DownloadError(f"Kaggle download of {KAGGLE_LANDSCAPE} failed: {exc}") from exc
    archive = to / (KAGGLE_LANDSCAPE.split("/")[1] + ".zip")
    verify(archive, {**_recorded(to), **expected}.get(archive.name))
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(to / "landscape")
    return [to / "landscape"]


SOURCES = {"div2k": download_div2k, "landscape": download_landscape}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Download the method's original training data.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download")
    d.add_argument("name", choices=sorted(SOURCES))
    d.add_argument("--to", type=Path, required=True)
    d.add_argument("--sha256", action="append", default=[], metavar="FILE=HEX",
                   help="expected SHA-256 of an archive (repeatable)")
    args = p.parse_args(argv)
    expected = dict(item.split("=", 1) for item in args.sha256)
    try:
        folders = SOURCES[args.name](args.to, expected)
    except DownloadError as exc:
        print(f"training.datasets: {exc}", file=sys.stderr)
        return 1
    print("ready: " + " ".join(str(f) for f in folders))
    print(f"train with: python -m training.train --data {' '.join(str(f) for f in folders)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
