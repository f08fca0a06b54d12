-- Appointments per day, source and status, for dashboards. Deleted appointments are left
-- out. Days are UTC days of starts_at; appointments without a start (requests not yet
-- scheduled) are counted under a null appointment_date, so the totals match
-- fct_appointments.
--
-- Columns: docs/reporting.md, also the views' column comments.

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
