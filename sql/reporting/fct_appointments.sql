-- One row per appointment of either source, deleted appointments included (is_deleted).
--
-- Columns:
--   source             'pexip_engage' or 'valomnia'
--   appointment_key    source || ':' || appointment_id, e.g. 'pexip_engage:123'; unique
--   appointment_id     the source's id, as text
--   external_id        Pexip Engage's externalId; null for Valomnia
--   title              Valomnia's title; null for Pexip Engage (it has none)
--   starts_at          start (timestamptz); Pexip Engage requests may have none yet
--   ends_at            end (timestamptz)
--   duration_minutes   ends_at - starts_at in minutes; null when either is null
--   status             one vocabulary for both sources, see the mapping below
--   source_status      the source's own value: Pexip's status, Valomnia's 'done' / 'open'
--   meeting_type       Pexip Engage's meetingType (OFFICE, ON_LOCATION, PHONE, VIDEO, ...)
--   category           Valomnia's appointmentCategory.name; null for Pexip Engage
--   office_id          Pexip Engage's office.id
--   subject_id         Pexip Engage's subject.id
--   customer_id        Pexip Engage: the first PRIMARY CUSTOMER participant (by list
--                      position), else the first CUSTOMER; Valomnia: customerId, else
--                      customer.id
--   employee_id        the primary employee. Pexip Engage: the first PRIMARY EMPLOYEE
--                      participant, else the first EMPLOYEE; Valomnia: employee.id, else
--                      employeeId
--   created_at         when the appointment was booked
--   updated_at         last change at the source
--   lead_time_hours    hours from created_at (booking) to starts_at; negative when booked
--                      after the start; null without a start
--   is_deleted         the source no longer has the appointment (deleted_at is set)
--
-- Status mapping (source, source_status -> status):
--   pexip_engage  INCOMING_REQUEST            -> requested
--   pexip_engage  OUTGOING_INVITE             -> requested
--   pexip_engage  ALTERNATIVE_DATE_REQUESTED  -> requested
--   pexip_engage  ACCEPTED                    -> scheduled
--   pexip_engage  COMPLETED                   -> completed
--   pexip_engage  CANCELLED                   -> cancelled
--   pexip_engage  NO_SHOW                     -> no_show
--   valomnia      done (done = true)          -> completed
--   valomnia      open (done = false)         -> scheduled
-- Valomnia knows no cancellation or no-show. Anything else (a new enum value from the
-- vendor, a null) becomes 'unmapped', which audits/assert_status_in_vocabulary reports.

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
        (epoch(appointments.ends_at) - epoch(appointments.starts_at)) / 60.0
            as duration_minutes,
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
        (epoch(appointments.starts_at) - epoch(appointments.created_at)) / 3600.0
            as lead_time_hours,
        appointments.deleted_at is not null as is_deleted,

    from appointments
    left join status_mapping
        on appointments.source = status_mapping.source
        and appointments.source_status = status_mapping.source_status

)

select * from final
