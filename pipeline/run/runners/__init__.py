"""Where a run's stage list runs: in-process (local) or on Ray Data (ray_runner, the only module of pipeline that imports ray), with progress and the fused-operator plan."""
