import sys

from kubeletlite.cli.main import main

sys.exit(main())
