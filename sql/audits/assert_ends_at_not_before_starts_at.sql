-- An appointment does not end before it starts (ends_at >= starts_at when both are set).

select
    appointment_key,
    starts_at,
    ends_at,

from reporting.fct_appointments
where ends_at < starts_at
order by appointment_key
