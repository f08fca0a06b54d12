-- status is one of requested, scheduled, completed, cancelled, no_show. A failure means a
-- source sent a status the mapping in reporting/fct_appointments.sql does not know.

select
    appointment_key,
    source,
    source_status,
    status,

from reporting.fct_appointments
where
    status is null
    or status not in ('requested', 'scheduled', 'completed', 'cancelled', 'no_show')
order by appointment_key
