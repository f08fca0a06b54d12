"""Running apptsync from an orchestrator instead of cron.

`dagster_defs` is a Dagster code location (`pip install -e '.[dagster]'`, then
`dagster dev -m pipelines.orchestrate.dagster_defs`). It calls the same library functions as
the command line (`run_source`, `build_models`, `run_audits`), so a sync started by Dagster
and one started by cron or systemd do the same work and write the same warehouse.
"""
