-- Every appointment the syncs landed (pexip_engage.appointments, valomnia.appointments) is a
-- row of reporting.fct_appointments.

with

raw_appointments as (

    select
        'pexip_engage' as source,
        cast(id as varchar) as appointment_id,
    from pexip_engage.appointments

    union all

    select
        'valomnia' as source,
        cast(id as varchar) as appointment_id,
    from valomnia.appointments

),

facts as (

    select
        source,
        appointment_id,
    from reporting.fct_appointments

),

missing as (

    select
        raw_appointments.source,
        raw_appointments.appointment_id,
    from raw_appointments
    where not exists (
        select 1 from facts
        where
            facts.source = raw_appointments.source
            and facts.appointment_id = raw_appointments.appointment_id
    )

)

select * from missing
order by source, appointment_id
