-- Weekly workload per employee (the appointment's primary employee, see fct_appointments),
-- for dashboards. Deleted appointments are left out. Weeks are ISO weeks (starting Monday)
-- of starts_at in UTC; appointments without a start fall under a null week_start, and
-- appointments without an employee under a null employee_id.
--
-- Columns: docs/reporting.md, also the views' column comments.

with

appointments as (

    select * from reporting.fct_appointments
    where not is_deleted

),

weekly as (

    select
        source,
        employee_id,
        cast(date_trunc('week', (starts_at at time zone 'UTC')) as date) as week_start,
        count(*) as appointment_count,
        round(
            coalesce(
                sum(duration_minutes) filter (
                    where status in ('scheduled', 'completed', 'no_show')
                ),
                0
            ) / 60.0,
            2
        ) as booked_hours,
        count(*) filter (where status = 'no_show') as no_show_count,
        count(*) filter (where status = 'cancelled') as cancellation_count,

    from appointments
    group by 1, 2, 3

)

select * from weekly
