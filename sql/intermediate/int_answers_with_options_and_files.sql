-- Pexip Engage answers with their selected answer options and files collected into lists
-- (ordered by list position; an empty list when there are none). One row per staged answer.
-- Valomnia appointments have no answers.

with

answers as (

    select * from staging.stg_pexip_engage__answers

),

answer_options as (

    select * from staging.stg_pexip_engage__answer_options

),

answer_files as (

    select * from staging.stg_pexip_engage__answer_files

),

options_per_answer as (

    select
        appointment_id,
        answer_id,
        list(answer_option_id order by option_index) as selected_option_ids,
        count(*) as selected_option_count,

    from answer_options
    group by appointment_id, answer_id

),

files_per_answer as (

    select
        appointment_id,
        answer_id,
        list(file_id order by file_index) as file_ids,
        count(*) as file_count,

    from answer_files
    group by appointment_id, answer_id

),

joined as (

    select
        'pexip_engage' as source,
        answers.appointment_id,
        answers.answer_id,
        answers.answer_index,
        answers.form_id,
        answers.question_id,
        answers.answer_type,
        answers.answer_value,
        coalesce(
            options_per_answer.selected_option_ids, cast([] as varchar[])
        ) as selected_option_ids,
        coalesce(options_per_answer.selected_option_count, 0) as selected_option_count,
        coalesce(files_per_answer.file_ids, cast([] as varchar[])) as file_ids,
        coalesce(files_per_answer.file_count, 0) as file_count,
        answers.created_at,
        answers.updated_at,

    from answers
    left join options_per_answer
        on answers.appointment_id = options_per_answer.appointment_id
        and answers.answer_id = options_per_answer.answer_id
    left join files_per_answer
        on answers.appointment_id = files_per_answer.appointment_id
        and answers.answer_id = files_per_answer.answer_id

)

select * from joined
