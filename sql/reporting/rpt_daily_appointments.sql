-- Appointments per day, source and status, for dashboards. Deleted appointments are left
-- out. Days are UTC days of starts_at; appointments without a start (requests not yet
-- scheduled) are counted under a null appointment_date, so the totals match
-- fct_appointments.
--
-- Columns:
--   appointment_date    UTC date of starts_at; null when there is no start
--   source              'pexip_engage' or 'valomnia'
--   status              requested, scheduled, completed, cancelled, no_show (or unmapped)
--   appointment_count   number of appointments
--   duration_hours      sum of their durations in hours, rounded to 2 decimals
--                       (appointments without a start or an end count for nothing)

with

appointments as (

    select * from reporting.fct_appointments
    where not is_deleted

),

daily as (

    select
        cast((starts_at at time zone 'UTC') as date) as appointment_date,
        source,
        status,
        count(*) as appointment_count,
        round(coalesce(sum(duration_minutes), 0) / 60.0, 2) as duration_hours,

    from appointments
    group by 1, 2, 3

)

select * from daily
