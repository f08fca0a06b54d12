-- Health of the syncs, one row per source, from the run ledger ops.sync_runs (one row per
-- source per run, written by every `apptsync sync`, failed runs too): when the source last
-- synced cleanly and how long ago, how its latest run ended, and what the last 24 hours
-- quarantined. Feeds a "last good sync 14 minutes ago" tile; `apptsync check --max-age`
-- applies the same rule as an exit code. Ages are measured when the view is read.
--
-- Columns: docs/reporting.md, also the views' column comments.

with

runs as (

    select * from staging.stg_ops__sync_runs

),

newest_first as (

    select
        source,
        started_at,
        finished_at,
        outcome,
        error,
        rows_loaded,
        row_number() over (partition by source order by started_at desc) as run_rank,
        row_number() over (
            partition by source, outcome order by started_at desc
        ) as outcome_rank,

    from runs

),

last_runs as (

    select
        source,
        finished_at as last_run_at,
        outcome as last_outcome,
        error as last_error,

    from newest_first
    where run_rank = 1

),

last_ok_runs as (

    select
        source,
        finished_at as last_ok_at,
        rows_loaded as last_ok_rows_loaded,

    from newest_first
    where outcome = 'ok' and outcome_rank = 1

),

per_source as (

    select
        source,
        count(*) filter (where started_at >= now() - interval 24 hour) as runs_24h,
        count(*) filter (
            where started_at >= now() - interval 24 hour and outcome = 'failed'
        ) as failed_runs_24h,
        coalesce(
            sum(quarantined) filter (where started_at >= now() - interval 24 hour), 0
        ) as quarantined_24h,
        round(avg(rows_loaded) filter (where outcome = 'ok'), 1) as avg_rows_per_ok_run,

    from runs
    group by source

),

final as (

    select
        last_runs.source,
        last_runs.last_run_at,
        last_runs.last_outcome,
        last_runs.last_error,
        last_ok_runs.last_ok_at,
        round(epoch(now() - last_ok_runs.last_ok_at) / 60.0, 1) as minutes_since_last_ok,
        last_ok_runs.last_ok_rows_loaded,
        per_source.runs_24h,
        per_source.failed_runs_24h,
        cast(per_source.quarantined_24h as bigint) as quarantined_24h,
        per_source.avg_rows_per_ok_run,

    from last_runs
    inner join per_source
        on last_runs.source = per_source.source
    left join last_ok_runs
        on last_runs.source = last_ok_runs.source

)

select * from final
