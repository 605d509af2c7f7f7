import logging
import warnings

import pytest

from msci.io.checks import InputError
from msci.logs import logged


def test_rule_log_holds_library_third_party_and_warning_output(tmp_path):
    path = tmp_path / "rule.log"
    with logged(str(path)):
        logging.getLogger("msci.ensemble").info("from the library")
        logging.getLogger("somelibrary.core").warning("from a third party")
        warnings.warn("a python warning", UserWarning, stacklevel=1)
    text = path.read_text()
    assert "from the library" in text and "from a third party" in text and "a python warning" in text
    assert "done in" in text


def test_bad_input_is_one_line_and_exit_status_one(tmp_path):
    path = tmp_path / "rule.log"
    with pytest.raises(SystemExit) as e, logged(str(path)):
        raise InputError("/data/x.h5", "file is empty")
    assert e.value.code == 1
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and lines[0].endswith("bad input: /data/x.h5: file is empty")
