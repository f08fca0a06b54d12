-- appointment_key identifies exactly one row of reporting.fct_appointments (and is never null).

select
    appointment_key,
    count(*) as row_count,

from reporting.fct_appointments
group by appointment_key
having
    count(*) > 1
    or appointment_key is null
order by appointment_key
