import sys

from shim.daemon.app import main

sys.exit(main())
