"""How a component's process ends. A process that has loaded TensorFlow spends 1-2 s tearing
its interpreter down after the work is done (garbage-collecting graphs and functions), and
TensorFlow's function destructors, run after the modules they use are gone, print a
TypeError traceback each. Once the outputs are written there is nothing left to clean up
(files are closed, Beam pipelines finished), so the process can leave at once."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn


def run_then_exit(main: Callable[[], object]) -> NoReturn:
    """Runs `main`; when it returns, flushes the standard streams and exits with status 0,
    skipping the interpreter's teardown (atexit handlers, finalizers). An exception, including
    SystemExit with an input error's status, propagates and ends the process as usual."""
    main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
