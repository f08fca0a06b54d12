-- Pexip Engage appointment locations: one row per row of pexip_engage.appointments__location,
-- i.e. per appointment whose location is set. Each address part comes with its language.

with

source as (

    select * from pexip_engage.appointments__location

),

renamed as (

    select
        -- ids
        cast(appointment_id as varchar) as appointment_id,

        -- address
        cast(street1__value as varchar) as street1,
        cast(street1__language as varchar) as street1_language,
        cast(street2__value as varchar) as street2,
        cast(street2__language as varchar) as street2_language,
        cast(postal_code as varchar) as postal_code,
        cast(city__value as varchar) as city,
        cast(city__language as varchar) as city_language,
        cast(state__value as varchar) as state,
        cast(state__language as varchar) as state_language,
        cast(country_code as varchar) as country_code,
        cast(formatted_address as varchar) as formatted_address,

        -- coordinates
        cast(geolocation__latitude as double) as latitude,
        cast(geolocation__longitude as double) as longitude,

        -- load
        cast(_dlt_load_id as varchar) as load_id,

    from source

)

select * from renamed
