"""`python -m jobs` is the `revwatch` command."""

import sys

from jobs.face.cli import main

sys.exit(main())
