-- Where appointments take place: one row per appointment that has a location (Pexip Engage,
-- typically ON_LOCATION meetings; Valomnia sends no location). Joins 1:1 to fct_appointments
-- on appointment_key. Locations of deleted appointments are kept, flagged by is_deleted.
--
-- Columns:
--   appointment_key     the appointment in fct_appointments
--   source              'pexip_engage'
--   appointment_id      the source's appointment id
--   formatted_address   the address on one line, as the source formats it
--   street1             first street line
--   street2             second street line
--   postal_code         postal code
--   city                city
--   state               state or region
--   country_code        ISO 3166-1 alpha-2 country code
--   address_language    language of the address parts (the first one given)
--   latitude            WGS 84 latitude
--   longitude           WGS 84 longitude
--   is_deleted          the appointment is deleted at the source

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
