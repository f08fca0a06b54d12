-- One row per person listed on an appointment: Pexip Engage's appointment participants and
-- Valomnia's contacts. Rows of deleted appointments are kept, flagged by is_deleted.
--
-- Columns:
--   source               'pexip_engage' or 'valomnia'
--   appointment_key      the appointment in fct_appointments
--   appointment_id       the source's appointment id, as text
--   participant_index    0-based position in the appointment's participant / contact list
--   participant_id       Pexip Engage's participant.id, Valomnia's contact id, as text
--   participant_type     'customer' or 'employee' (Pexip Engage), 'contact' (Valomnia)
--   participant_role     'primary' or 'secondary' (Pexip Engage); null for Valomnia
--   first_name           Valomnia contact's first name; null for Pexip Engage
--   last_name            Valomnia contact's last name
--   email                Valomnia contact's e-mail
--   phone                Valomnia contact's phone
--   mobile               Valomnia contact's mobile
--   customer_reference   Valomnia contact's customer reference
--   video_url            Pexip Engage participant's video link
--   video_test_url       Pexip Engage participant's video test link
--   is_deleted           the appointment is deleted at the source

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
