-- The people listed on each appointment, both sources in one shape: Pexip Engage's
-- appointment participants (customers and employees, primary or secondary) and Valomnia's
-- contacts (participant_type 'contact', no role). Types and roles are lower case.
-- One row per staged participant or contact.

with

pexip_engage_participants as (

    select * from staging.stg_pexip_engage__appointment_participants

),

valomnia_contacts as (

    select * from staging.stg_valomnia__contacts

),

pexip_engage as (

    select
        'pexip_engage' as source,
        appointment_id,
        participant_index,
        participant_id,
        lower(participant_type) as participant_type,
        lower(participant_role) as participant_role,
        cast(null as varchar) as first_name,
        cast(null as varchar) as last_name,
        cast(null as varchar) as email,
        cast(null as varchar) as phone,
        cast(null as varchar) as mobile,
        cast(null as varchar) as customer_reference,
        video_url,
        video_test_url,

    from pexip_engage_participants

),

valomnia as (

    select
        'valomnia' as source,
        cast(appointment_id as varchar) as appointment_id,
        contact_index as participant_index,
        cast(contact_id as varchar) as participant_id,
        'contact' as participant_type,
        cast(null as varchar) as participant_role,
        first_name,
        last_name,
        email,
        phone,
        mobile,
        customer_reference,
        cast(null as varchar) as video_url,
        cast(null as varchar) as video_test_url,

    from valomnia_contacts

),

unioned as (

    select * from pexip_engage
    union all
    select * from valomnia

)

select * from unioned
