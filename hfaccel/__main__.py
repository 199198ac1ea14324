from hfaccel.cli import main

raise SystemExit(main())
