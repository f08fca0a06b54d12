-- One row per answer given on an appointment (Pexip Engage forms; Valomnia has no answers),
-- with the answer options it selects and the files attached to it. Answers of deleted
-- appointments are kept, flagged by is_deleted.
--
-- Columns:
--   source                  'pexip_engage'
--   appointment_key         the appointment in fct_appointments
--   appointment_id          the source's appointment id
--   answer_id               the answer's id
--   answer_index            0-based position in the appointment's answers list
--   form_id                 the form the question belongs to
--   question_id             the question answered
--   answer_type             APPOINTMENT_CANCELLATION, APPOINTMENT_COMPLETION,
--                           CALLBACK_REQUEST, QUALIFICATION or SUBJECT_QUESTIONNAIRE
--   answer_value            the answer as text (null when only options are selected)
--   selected_option_ids     ids of the selected answer options, in list order (empty list
--                           when none)
--   selected_option_count   number of selected answer options
--   file_ids                ids of the attached files, in list order (empty list when none)
--   file_count              number of attached files
--   created_at              when the answer was given
--   updated_at              when the answer last changed
--   is_deleted              the appointment is deleted at the source

with

answers as (

    select * from intermediate.int_answers_with_options_and_files

),

appointments as (

    select * from intermediate.int_appointments_unioned

),

final as (

    select
        answers.source,
        answers.source || ':' || answers.appointment_id as appointment_key,
        answers.appointment_id,
        answers.answer_id,
        answers.answer_index,
        answers.form_id,
        answers.question_id,
        answers.answer_type,
        answers.answer_value,
        answers.selected_option_ids,
        answers.selected_option_count,
        answers.file_ids,
        answers.file_count,
        answers.created_at,
        answers.updated_at,
        appointments.deleted_at is not null as is_deleted,

    from answers
    left join appointments
        on answers.source = appointments.source
        and answers.appointment_id = appointments.appointment_id

)

select * from final
