-- Valomnia appointment contacts: one row per row of valomnia.appointments__contacts, i.e. per
-- entry of an appointment's contacts list (contact_index is its 0-based position).

with

source as (

    select * from valomnia.appointments__contacts

),

renamed as (

    select
        -- ids
        cast(appointment_id as bigint) as appointment_id,
        cast(list_index as bigint) as contact_index,
        cast(id as bigint) as contact_id,

        -- properties
        cast(first_name as varchar) as first_name,
        cast(last_name as varchar) as last_name,
        cast(email as varchar) as email,
        cast(phone as varchar) as phone,
        cast(mobile as varchar) as mobile,
        cast(customer_reference as varchar) as customer_reference,

        -- load
        cast(_dlt_load_id as varchar) as load_id,

    from source

)

select * from renamed
