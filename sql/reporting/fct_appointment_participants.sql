-- One row per person listed on an appointment: Pexip Engage's appointment participants and
-- Valomnia's contacts. Rows of deleted appointments are kept, flagged by is_deleted.
--
-- Columns: docs/reporting.md, also the views' column comments.

with

participants as (

    select * from intermediate.int_participants_unioned

),

appointments as (

    select * from intermediate.int_appointments_unioned

),

final as (

    select
        participants.source,
        participants.source || ':' || participants.appointment_id as appointment_key,
        participants.appointment_id,
        participants.participant_index,
        participants.participant_id,
        participants.participant_type,
        participants.participant_role,
        participants.first_name,
        participants.last_name,
        participants.email,
        participants.phone,
        participants.mobile,
        participants.customer_reference,
        participants.video_url,
        participants.video_test_url,
        appointments.deleted_at is not null as is_deleted,

    from participants
    left join appointments
        on participants.source = appointments.source
        and participants.appointment_id = appointments.appointment_id

)

select * from final
