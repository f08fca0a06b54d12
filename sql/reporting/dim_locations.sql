-- Where appointments take place: one row per appointment that has a location (Pexip Engage,
-- typically ON_LOCATION meetings; Valomnia sends no location). Joins 1:1 to fct_appointments
-- on appointment_key. Locations of deleted appointments are kept, flagged by is_deleted.
--
-- Columns: docs/reporting.md, also the views' column comments.

with

locations as (

    select * from staging.stg_pexip_engage__locations

),

appointments as (

    select * from intermediate.int_appointments_unioned

),

final as (

    select
        'pexip_engage:' || locations.appointment_id as appointment_key,
        'pexip_engage' as source,
        locations.appointment_id,
        locations.formatted_address,
        locations.street1,
        locations.street2,
        locations.postal_code,
        locations.city,
        locations.state,
        locations.country_code,
        coalesce(
            locations.street1_language,
            locations.city_language,
            locations.state_language,
            locations.street2_language
        ) as address_language,
        locations.latitude,
        locations.longitude,
        appointments.deleted_at is not null as is_deleted,

    from locations
    left join appointments
        on appointments.source = 'pexip_engage'
        and locations.appointment_id = appointments.appointment_id

)

select * from final
