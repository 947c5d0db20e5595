"""`python -m common.entrypoints.cli`: the `socialsched` command."""

import sys

from common.entrypoints.cli.main import main

sys.exit(main())
