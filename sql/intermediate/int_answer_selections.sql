-- Pexip Engage answers exploded by selected answer option: one row per answer and option it
-- selects, and one row (answer_option_id null) per answer that selects no option. This is
-- the grain at which answers are counted per question.

with

answers as (

    select * from staging.stg_pexip_engage__answers

),

answer_options as (

    select * from staging.stg_pexip_engage__answer_options

),

selections as (

    select
        'pexip_engage' as source,
        answers.appointment_id,
        answers.answer_id,
        answers.question_id,
        answers.answer_type,
        answers.answer_value,
        answer_options.answer_option_id,
        answer_options.option_index,

    from answers
    left join answer_options
        on answers.appointment_id = answer_options.appointment_id
        and answers.answer_id = answer_options.answer_id

)

select * from selections
