-- Every child row (participant, answer, answer option, answer file, location, contact) has
-- its appointment in the same source's staged appointments.

with

pexip_engage_appointments as (

    select appointment_id from staging.stg_pexip_engage__appointments

),

valomnia_appointments as (

    select appointment_id from staging.stg_valomnia__appointments

),

orphans as (

    select
        'stg_pexip_engage__appointment_participants' as child_model,
        children.appointment_id,
        'participant_index=' || cast(children.participant_index as varchar) as child_row,
    from staging.stg_pexip_engage__appointment_participants as children
    where
        not exists (
            select 1 from pexip_engage_appointments as parents
            where parents.appointment_id = children.appointment_id
        )

    union all

    select
        'stg_pexip_engage__answers' as child_model,
        children.appointment_id,
        'answer_id=' || children.answer_id as child_row,
    from staging.stg_pexip_engage__answers as children
    where
        not exists (
            select 1 from pexip_engage_appointments as parents
            where parents.appointment_id = children.appointment_id
        )

    union all

    select
        'stg_pexip_engage__answer_options' as child_model,
        children.appointment_id,
        'answer_option_id=' || children.answer_option_id as child_row,
    from staging.stg_pexip_engage__answer_options as children
    where
        not exists (
            select 1 from pexip_engage_appointments as parents
            where parents.appointment_id = children.appointment_id
        )

    union all

    select
        'stg_pexip_engage__answer_files' as child_model,
        children.appointment_id,
        'file_id=' || children.file_id as child_row,
    from staging.stg_pexip_engage__answer_files as children
    where
        not exists (
            select 1 from pexip_engage_appointments as parents
            where parents.appointment_id = children.appointment_id
        )

    union all

    select
        'stg_pexip_engage__locations' as child_model,
        children.appointment_id,
        'formatted_address=' || children.formatted_address as child_row,
    from staging.stg_pexip_engage__locations as children
    where
        not exists (
            select 1 from pexip_engage_appointments as parents
            where parents.appointment_id = children.appointment_id
        )

    union all

    select
        'stg_valomnia__contacts' as child_model,
        cast(children.appointment_id as varchar) as appointment_id,
        'contact_id=' || cast(children.contact_id as varchar) as child_row,
    from staging.stg_valomnia__contacts as children
    where not exists (
        select 1 from valomnia_appointments as parents
        where parents.appointment_id = children.appointment_id
    )

)

select * from orphans
order by child_model, appointment_id, child_row
