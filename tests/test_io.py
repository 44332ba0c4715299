"""advinterp.io: outputs appear whole, with the mode a plain open would give them."""

import os
import stat

import pandas as pd
import pytest

from advinterp.io import atomic_path, write_tsv


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_get_the_umask_mode_not_the_temporary_files(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_tsv(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "t.tsv").stat().st_mode)
    assert mode == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.tsv") as tmp:
        open(tmp, "w").write("half")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
