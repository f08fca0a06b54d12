-- How each question was answered: counts per question and answer, for dashboards. An
-- answer is the selected answer option together with the answer's text; an answer that
-- selects several options counts once under each. Answers of deleted appointments are left
-- out.
--
-- Columns: docs/reporting.md, also the views' column comments.

with

selections as (

    select * from intermediate.int_answer_selections

),

appointments as (

    select * from reporting.fct_appointments

),

live_selections as (

    select
        selections.question_id,
        selections.answer_id,
        selections.answer_option_id,
        selections.answer_value,

    from selections
    inner join appointments
        on selections.source = appointments.source
        and selections.appointment_id = appointments.appointment_id
    where not appointments.is_deleted

),

per_answer as (

    select
        question_id,
        answer_option_id,
        answer_value,
        count(distinct answer_id) as answer_count,

    from live_selections
    group by 1, 2, 3

),

per_question as (

    select
        question_id,
        count(distinct answer_id) as question_answer_count,

    from live_selections
    group by 1

),

final as (

    select
        per_answer.question_id,
        per_answer.answer_option_id,
        per_answer.answer_value,
        per_answer.answer_count,
        per_question.question_answer_count,
        round(
            cast(per_answer.answer_count as double) / per_question.question_answer_count,
            4
        )
            as answer_share,

    from per_answer
    inner join per_question
        on per_answer.question_id = per_question.question_id

)

select * from final
