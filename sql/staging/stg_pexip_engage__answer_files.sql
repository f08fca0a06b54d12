-- Pexip Engage answer files: one row per row of pexip_engage.appointments__answers__files,
-- i.e. per entry of an answer's files list (file_index is its 0-based position).

with

source as (

    select * from pexip_engage.appointments__answers__files

),

renamed as (

    select
        -- ids
        cast(appointment_id as varchar) as appointment_id,
        cast(answer_id as varchar) as answer_id,
        cast(list_index as bigint) as file_index,
        cast(id as varchar) as file_id,

        -- load
        cast(_dlt_load_id as varchar) as load_id,

    from source

)

select * from renamed
