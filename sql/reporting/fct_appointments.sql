-- One row per appointment of either source, deleted appointments included (is_deleted).
--
-- Columns: docs/reporting.md, also the views' column comments.
--
-- Status: one vocabulary for both sources, mapped in status_mapping below (its meaning per
-- value: docs/reporting.md, checked against this list). Anything else (a new enum value
-- from the vendor, a null) becomes 'unmapped', which audits/assert_status_in_vocabulary
-- reports.

with

appointments as (

    select * from intermediate.int_appointments_unioned

),

status_mapping as (

    select
        statuses.source,
        statuses.source_status,
        statuses.status,
    from (
        values
        ('pexip_engage', 'INCOMING_REQUEST', 'requested'),
        ('pexip_engage', 'OUTGOING_INVITE', 'requested'),
        ('pexip_engage', 'ALTERNATIVE_DATE_REQUESTED', 'requested'),
        ('pexip_engage', 'ACCEPTED', 'scheduled'),
        ('pexip_engage', 'COMPLETED', 'completed'),
        ('pexip_engage', 'CANCELLED', 'cancelled'),
        ('pexip_engage', 'NO_SHOW', 'no_show'),
        ('valomnia', 'done', 'completed'),
        ('valomnia', 'open', 'scheduled')
    ) as statuses (source, source_status, status)

),

final as (

    select
        appointments.source,
        appointments.source || ':' || appointments.appointment_id as appointment_key,
        appointments.appointment_id,
        appointments.external_id,
        appointments.title,
        appointments.starts_at,
        appointments.ends_at,
        round(
            (epoch(appointments.ends_at) - epoch(appointments.starts_at)) / 60.0, 2
        ) as duration_minutes,
        coalesce(status_mapping.status, 'unmapped') as status,
        appointments.source_status,
        appointments.meeting_type,
        appointments.category,
        appointments.office_id,
        appointments.subject_id,
        appointments.customer_id,
        appointments.employee_id,
        appointments.created_at,
        appointments.updated_at,
        round(
            (epoch(appointments.starts_at) - epoch(appointments.created_at)) / 3600.0, 2
        ) as lead_time_hours,
        appointments.deleted_at is not null as is_deleted,

    from appointments
    left join status_mapping
        on appointments.source = status_mapping.source
        and appointments.source_status = status_mapping.source_status

)

select * from final
