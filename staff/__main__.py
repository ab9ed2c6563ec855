import sys

from staff.cli import main

sys.exit(main(sys.argv[1:]))
