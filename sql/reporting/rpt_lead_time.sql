-- How far ahead appointments are booked: percentiles of lead_time_hours (booking to start)
-- per source and meeting type, for dashboards. Deleted appointments and appointments
-- without a start are left out. Valomnia has no meeting types (null meeting_type).
-- Percentiles are continuous (interpolated) and rounded to 2 decimals.
--
-- Columns: docs/reporting.md, also the views' column comments.

with

appointments as (

    select * from reporting.fct_appointments
    where
        not is_deleted
        and lead_time_hours is not null

),

percentiles as (

    select
        source,
        meeting_type,
        count(*) as appointment_count,
        round(quantile_cont(lead_time_hours, 0.25), 2) as lead_time_hours_p25,
        round(quantile_cont(lead_time_hours, 0.5), 2) as lead_time_hours_p50,
        round(quantile_cont(lead_time_hours, 0.75), 2) as lead_time_hours_p75,
        round(quantile_cont(lead_time_hours, 0.9), 2) as lead_time_hours_p90,
        round(avg(lead_time_hours), 2) as lead_time_hours_avg,

    from appointments
    group by 1, 2

)

select * from percentiles
