-- An appointment does not end before it starts (ends_at >= starts_at when both are set).
--
-- Advisory: the times are the vendor's as entered there, and no sync can correct them, so a
-- failure is a warning for whoever owns that data, not a failed run.
-- severity: warn

select
    appointment_key,
    starts_at,
    ends_at,

from reporting.fct_appointments
where ends_at < starts_at
order by appointment_key
