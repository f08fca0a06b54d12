-- Pexip Engage appointment participants: one row per row of
-- pexip_engage.appointments__appointment_participants, i.e. per entry of an appointment's
-- appointmentParticipants list (participant_index is its 0-based position).

with

source as (

    select * from pexip_engage.appointments__appointment_participants

),

renamed as (

    select
        -- ids
        cast(appointment_id as varchar) as appointment_id,
        cast(list_index as bigint) as participant_index,
        cast(participant__id as varchar) as participant_id,

        -- properties
        cast(role as varchar) as participant_role,
        cast(type as varchar) as participant_type,
        cast(video_url as varchar) as video_url,
        cast(video_test_url as varchar) as video_test_url,

        -- load
        cast(_dlt_load_id as varchar) as load_id,

    from source

)

select * from renamed
