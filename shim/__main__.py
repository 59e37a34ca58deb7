import sys

from shim.app import main

sys.exit(main())
