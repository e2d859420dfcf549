import sys

from pacata.cli.main import main

sys.exit(main())
