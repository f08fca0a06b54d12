-- Pexip Engage selected answer options: one row per row of
-- pexip_engage.appointments__answers__selected_answer_options, i.e. per entry of an answer's
-- selectedAnswerOptions list (option_index is its 0-based position).

with

source as (

    select * from pexip_engage.appointments__answers__selected_answer_options

),

renamed as (

    select
        -- ids
        cast(appointment_id as varchar) as appointment_id,
        cast(answer_id as varchar) as answer_id,
        cast(list_index as bigint) as option_index,
        cast(id as varchar) as answer_option_id,

        -- load
        cast(_dlt_load_id as varchar) as load_id,

    from source

)

select * from renamed
