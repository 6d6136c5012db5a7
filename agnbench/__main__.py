from agnbench.cli import main
import sys

sys.exit(main())
