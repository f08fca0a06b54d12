-- Weekly workload per employee (the appointment's primary employee, see fct_appointments),
-- for dashboards. Deleted appointments are left out. Weeks are ISO weeks (starting Monday)
-- of starts_at in UTC; appointments without a start fall under a null week_start, and
-- appointments without an employee under a null employee_id.
--
-- Columns:
--   source               'pexip_engage' or 'valomnia' (employee ids are per source)
--   employee_id          the source's employee id
--   week_start           Monday of the UTC week of starts_at; null when there is no start
--   appointment_count    appointments in the week, any status
--   booked_hours         hours held in the calendar: durations of the scheduled, completed
--                        and no-show appointments, rounded to 2 decimals
--   no_show_count        appointments with status no_show
--   cancellation_count   appointments with status cancelled

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
