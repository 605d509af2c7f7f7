"""Logging for rule scripts: progress lines to the rule's log file, bad input as one clear line."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from msci.io.checks import InputError

logger = logging.getLogger("msci")


@contextmanager
def logged(log_path: str | None) -> Iterator[logging.Logger]:
    """Send every log record — the library's and third parties' (Optuna, XGBoost, TensorFlow), and
    Python warnings — to ``log_path`` (and stderr) for the duration of a rule script.

    The handlers sit on the root logger, so any ``logging.getLogger(__name__)`` reaches the rule's log.
    An :class:`InputError` ends the script with one line naming the file and the problem
    (exit status 1); any other error is logged with its traceback and re-raised.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    root = logging.getLogger()
    previous_level = root.level
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    t0 = time.perf_counter()
    try:
        yield logger
        logger.info("done in %.1f s", time.perf_counter() - t0)
    except InputError as e:
        logger.error("bad input: %s", e)
        raise SystemExit(1) from None
    except Exception:
        logger.exception("failed")
        raise
    finally:
        logging.captureWarnings(False)
        root.setLevel(previous_level)
        for h in handlers:
            root.removeHandler(h)
            h.close()
