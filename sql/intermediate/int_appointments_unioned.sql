-- Appointments of both sources in one shape, before the status mapping: one row per staged
-- appointment. Ids become text so both sources fit one column. Pexip Engage has no title or
-- category; Valomnia has no external id, meeting type, office or subject (all null).
-- source_status is the source's own status: Pexip's status enum, Valomnia's done flag as
-- 'done' / 'open' (null when the flag is null).

with

pexip_engage_appointments as (

    select * from staging.stg_pexip_engage__appointments

),

pexip_engage_primary_participants as (

    select * from intermediate.int_pexip_engage__primary_participants

),

valomnia_appointments as (

    select * from staging.stg_valomnia__appointments

),

pexip_engage as (

    select
        'pexip_engage' as source,
        appointments.appointment_id,
        appointments.external_id,
        cast(null as varchar) as title,
        appointments.starts_at,
        appointments.ends_at,
        appointments.status as source_status,
        appointments.meeting_type,
        cast(null as varchar) as category,
        appointments.office_id,
        appointments.subject_id,
        participants.customer_id,
        participants.employee_id,
        appointments.created_at,
        appointments.updated_at,
        appointments.deleted_at,

    from pexip_engage_appointments as appointments
    left join pexip_engage_primary_participants as participants
        on appointments.appointment_id = participants.appointment_id

),

valomnia as (

    select
        'valomnia' as source,
        cast(appointment_id as varchar) as appointment_id,
        cast(null as varchar) as external_id,
        title,
        starts_at,
        ends_at,
        case
            when is_done then 'done'
            when not is_done then 'open'
        end as source_status,
        cast(null as varchar) as meeting_type,
        appointment_category_name as category,
        cast(null as varchar) as office_id,
        cast(null as varchar) as subject_id,
        cast(coalesce(customer_id, customer_object_id) as varchar) as customer_id,
        cast(coalesce(employee_object_id, employee_id) as varchar) as employee_id,
        created_at,
        updated_at,
        deleted_at,

    from valomnia_appointments

),

unioned as (

    select * from pexip_engage
    union all
    select * from valomnia

)

select * from unioned
