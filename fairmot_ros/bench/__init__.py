"""Benchmarks of the package, one home: ``fairmot-bench <subcommand>`` prints JSON.

``cli`` dispatches to one module per subcommand (``tracker``, ``pipeline``, ``node``,
``multi``, ``soak``, ``engine``, ``gpu``), each with ``add_arguments(parser)`` and
``run(args) -> dict``; ``common`` holds the statistics and machine facts every report carries.
Nothing here imports rclpy except through ``fairmot_ros.ros.bench_node``, which ``node``
and ``multi`` load when they run. Speed goals are never tests: these reports are the figures.
"""
