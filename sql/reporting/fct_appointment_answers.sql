-- One row per answer given on an appointment (Pexip Engage forms; Valomnia has no answers),
-- with the answer options it selects and the files attached to it. Answers of deleted
-- appointments are kept, flagged by is_deleted.
--
-- Columns: docs/reporting.md, also the views' column comments.

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
