"""On PostgreSQL, the day's stages as Procrastinate jobs that `digest worker` processes run on
any number of machines. Entry points: `tasks.make_app` (the Procrastinate app with every task),
`runner.run_worker` (`digest worker`), `fleet.FLEET_STAGES` (what `digest run` defers and
waits for instead of running the stage in its own process)."""
