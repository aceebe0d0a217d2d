"""`python -m mlops VERB` (the Makefile's verbs call this)."""

import sys

from mlops.cli import main

sys.exit(main())
