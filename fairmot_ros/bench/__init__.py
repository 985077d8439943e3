"""Benchmarks of the package, one home: ``fairmot-bench <subcommand>`` prints JSON.

``cli`` dispatches to one module per subcommand (``tracker``, ``pipeline``, ``node``,
``multi``, ``soak``, ``engine``, ``gpu``), each with ``add_arguments(parser)`` and
``run(args) -> dict``; ``common`` holds the statistics and machine facts every report carries.
Nothing here imports rclpy except ``dds_harness`` (the DDS side of ``node`` and ``multi``,
through :mod:`fairmot_ros.replay.session`), which those two load when they run; ``bag`` runs
``fairmot-bag`` processes. Speed goals are never tests: these reports are the figures.
"""
