"""`python -m launcher.cli COMMAND`: the command line without the TUI."""

import sys

from launcher.cli.main import main

sys.exit(main())
