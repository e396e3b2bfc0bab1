"""`python -m jobs` is the `revwatch` command."""

import sys

from jobs.cli import main

sys.exit(main())
