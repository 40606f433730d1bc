from colorize.cli import main

raise SystemExit(main())
