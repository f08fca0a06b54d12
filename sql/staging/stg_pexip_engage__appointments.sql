-- Pexip Engage appointments: one row per row of pexip_engage.appointments (merged on id),
-- renamed and typed. An appointment the sync no longer finds keeps its row, with deleted_at set.

with

source as (

    select * from pexip_engage.appointments

),

renamed as (

    select
        -- ids
        cast(id as varchar) as appointment_id,
        cast(external_id as varchar) as external_id,
        cast(subject__id as varchar) as subject_id,
        cast(office__id as varchar) as office_id,
        cast(callback_request__id as varchar) as callback_request_id,
        cast(listing__id as varchar) as listing_id,
        cast(lead_segment__id as varchar) as lead_segment_id,
        cast(meeting_room__id as varchar) as meeting_room_id,

        -- properties
        cast(meeting_type as varchar) as meeting_type,
        cast(status as varchar) as status,
        cast(hybrid as boolean) as is_hybrid,
        cast(trailing_buffer_time as bigint) as trailing_buffer_minutes,
        cast(internal_notes as varchar) as internal_notes,
        cast(message_for_customer as varchar) as message_for_customer,

        -- audit trail
        cast(created_by__id as varchar) as created_by_id,
        cast(created_by_type as varchar) as created_by_type,
        cast(created_from as varchar) as created_from,
        cast(updated_by__id as varchar) as updated_by_id,
        cast(updated_by_type as varchar) as updated_by_type,
        cast(updated_from as varchar) as updated_from,

        -- timestamps
        cast(start as timestamptz) as starts_at,
        cast("end" as timestamptz) as ends_at,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at,
        cast(deleted_at as timestamptz) as deleted_at,

        -- load
        cast(_dlt_load_id as varchar) as load_id,

    from source

)

select * from renamed
