"""``python -m <package> validate|send FILE``: see ``command_line``."""

import sys

from .command_line import main

sys.exit(main())
