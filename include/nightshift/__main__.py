from nightshift.cli import main

raise SystemExit(main())
