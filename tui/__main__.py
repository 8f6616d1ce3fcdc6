"""`python -m tui [COMMAND]`: the same as the `frcnn-tui` program."""

import sys

from tui.entry import main

sys.exit(main())
