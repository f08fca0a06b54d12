-- The customer and the employee of each Pexip Engage appointment: per participant type, the
-- first PRIMARY participant by list position, or, when the appointment has no PRIMARY one of
-- that type, the first participant of that type. One row per appointment that has any
-- participant; customer_id or employee_id is null when there is no participant of that type.

with

participants as (

    select * from staging.stg_pexip_engage__appointment_participants

),

ranked as (

    select
        appointment_id,
        participant_type,
        participant_id,
        row_number() over (
            partition by appointment_id, participant_type
            order by
                case when participant_role = 'PRIMARY' then 0 else 1 end,
                participant_index
        ) as rank_within_type,

    from participants
    where participant_type in ('CUSTOMER', 'EMPLOYEE')

),

primary_participants as (

    select
        appointment_id,
        max(case when participant_type = 'CUSTOMER' then participant_id end) as customer_id,
        max(case when participant_type = 'EMPLOYEE' then participant_id end) as employee_id,

    from ranked
    where rank_within_type = 1
    group by appointment_id

)

select * from primary_participants
