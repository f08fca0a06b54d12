-- Weekly no-show rate per office and source, for dashboards. Deleted appointments are left
-- out. Weeks are ISO weeks (starting Monday) of starts_at in UTC; appointments without a
-- start fall under a null week_start. Valomnia has no offices (null office_id) and no
-- no-shows.
--
-- Columns: docs/reporting.md, also the views' column comments.

with

appointments as (

    select * from reporting.fct_appointments
    where not is_deleted

),

weekly as (

    select
        cast(date_trunc('week', (starts_at at time zone 'UTC')) as date) as week_start,
        source,
        office_id,
        count(*) as appointment_count,
        count(*) filter (where status = 'completed') as completed_count,
        count(*) filter (where status = 'no_show') as no_show_count,

    from appointments
    group by 1, 2, 3

),

final as (

    select
        week_start,
        source,
        office_id,
        appointment_count,
        completed_count,
        no_show_count,
        round(
            cast(no_show_count as double) / nullif(completed_count + no_show_count, 0),
            4
        ) as no_show_rate,

    from weekly

)

select * from final
