-- apptsync's run ledger: one row per row of ops.sync_runs, i.e. per source per run, written
-- by every sync whether it succeeded or not (see pipelines/ops/ledger.py for each column).

with

source as (

    select * from ops.sync_runs

),

renamed as (

    select
        -- ids
        cast(run_id as varchar) as run_id,
        cast(source as varchar) as source,

        -- timing
        cast(started_at as timestamp with time zone) as started_at,
        cast(finished_at as timestamp with time zone) as finished_at,
        cast(seconds as double) as seconds,

        -- outcome
        cast(outcome as varchar) as outcome,
        cast(error as varchar) as error,
        cast(note as varchar) as note,

        -- counts
        cast(rows_loaded as bigint) as rows_loaded,
        cast(api_total as bigint) as api_total,
        cast(ids_seen as bigint) as ids_seen,
        cast(quarantined as bigint) as quarantined,
        cast(marked_deleted as bigint) as marked_deleted,
        cast(stale_child_rows_removed as bigint) as stale_child_rows_removed,
        cast(requests as bigint) as requests,
        cast(retries as bigint) as retries,
        cast(drift_passes as bigint) as drift_passes,

        -- cursor
        cast(cursor_before as varchar) as cursor_before,
        cast(cursor_after as varchar) as cursor_after,

        -- process
        cast(command as varchar) as command,
        cast(pid as integer) as pid,

    from source

)

select * from renamed
