-- Pexip Engage answers: one row per row of pexip_engage.appointments__answers, i.e. per entry
-- of an appointment's answers list (answer_index is its 0-based position).

with

source as (

    select * from pexip_engage.appointments__answers

),

renamed as (

    select
        -- ids
        cast(appointment_id as varchar) as appointment_id,
        cast(list_index as bigint) as answer_index,
        cast(id as varchar) as answer_id,
        cast(form__id as varchar) as form_id,
        cast(question__id as varchar) as question_id,

        -- properties
        cast(answer_type as varchar) as answer_type,
        cast(value as varchar) as answer_value,

        -- timestamps
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at,

        -- load
        cast(_dlt_load_id as varchar) as load_id,

    from source

)

select * from renamed
