-- Every sighting of a customer on an appointment, both sources in one shape: Pexip Engage
-- participants of type CUSTOMER (ids only: Pexip sends no names) and Valomnia appointments
-- with a customer (customerId, else customer.id, with the customer's reference and name).
-- seen_at is the appointment's updated_at; dim_customers keeps the latest attributes.

with

pexip_engage_participants as (

    select * from staging.stg_pexip_engage__appointment_participants

),

pexip_engage_appointments as (

    select * from staging.stg_pexip_engage__appointments

),

valomnia_appointments as (

    select * from staging.stg_valomnia__appointments

),

pexip_engage as (

    select
        'pexip_engage' as source,
        participants.participant_id as customer_id,
        cast(null as varchar) as customer_reference,
        cast(null as varchar) as customer_name,
        participants.appointment_id,
        appointments.updated_at as seen_at,

    from pexip_engage_participants as participants
    left join pexip_engage_appointments as appointments
        on participants.appointment_id = appointments.appointment_id
    where
        participants.participant_type = 'CUSTOMER'
        and participants.participant_id is not null

),

valomnia as (

    select
        'valomnia' as source,
        cast(coalesce(customer_id, customer_object_id) as varchar) as customer_id,
        customer_reference,
        customer_name,
        cast(appointment_id as varchar) as appointment_id,
        updated_at as seen_at,

    from valomnia_appointments
    where coalesce(customer_id, customer_object_id) is not null

),

unioned as (

    select * from pexip_engage
    union all
    select * from valomnia

)

select * from unioned
