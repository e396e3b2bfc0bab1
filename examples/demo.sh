#!/usr/bin/env bash
# The README's demo command: set up .venv, build the demo CA database, run the real job against
# it with a loopback SMTP sink, and write the report into demo-out/ (or the directory given).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup
.venv/bin/revwatch demo --out "${1:-demo-out}"
