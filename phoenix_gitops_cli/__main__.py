"""`python -m phoenix_gitops_cli ARGS` runs the phoenix-gitops program, as the console script does."""
from __future__ import annotations

import sys

from .program import main

sys.exit(main())
