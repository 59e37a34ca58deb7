import sys

from kubeletlite.cli import main

sys.exit(main())
