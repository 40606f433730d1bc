"""scripts.fuzz, the long fuzz run: it reports the cases run per target, and writes each failing input where
tests/reliability/fuzz_cases/ can take it."""

import pytest
from hypothesis import strategies as st

from scripts import fuzz as fuzz_script
from tests.reliability import fuzzing


def test_a_timed_run_saves_the_shrunk_input_that_failed_and_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(fuzzing, "SECONDS", 2.0)
    monkeypatch.setattr(fuzzing, "FINDINGS", tmp_path)
    monkeypatch.setattr(fuzzing, "COUNTS", str(tmp_path / "counts.json"))

    def check(data: bytes) -> None:
        assert b"\xff" not in data

    with pytest.raises(AssertionError, match="finding"):
        fuzzing.fuzz("bytes", st.binary(), check, 10)
    saved = sorted(tmp_path.glob("bytes-*.bin"))
    assert saved and all(path.read_bytes() == b"\xff" for path in saved)  # shrunk to the least that fails
    assert "AssertionError" in saved[0].with_suffix(".error").read_text()
    assert (tmp_path / "counts.json").read_text().count('"bytes"') == 1


def test_the_script_prints_the_cases_of_each_target_it_ran(tmp_path, capsys):
    assert fuzz_script.main(["--minutes", "0.2", "-k", "hints", "--findings", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    cases = int(table.split("hints json")[1].split()[0])
    assert cases > 100 and "findings (0)" in table
