-- One row per customer of each source (customers of the two sources are never merged).
-- Pexip Engage customers are the CUSTOMER participants of its appointments, known by id
-- only; Valomnia customers come with a reference and a name, taken from the most recently
-- updated appointment that carries them.
--
-- Columns: docs/reporting.md, also the views' column comments.

with

customers as (

    select * from intermediate.int_customers_unioned

),

appointments as (

    select * from reporting.fct_appointments

),

ranked as (

    select
        source,
        customer_id,
        customer_reference,
        customer_name,
        row_number() over (
            partition by source, customer_id
            order by
                case
                    when customer_reference is null and customer_name is null then 1
                    else 0
                end,
                seen_at desc nulls last,
                appointment_id desc
        ) as recency_rank,

    from customers

),

latest as (

    select
        source,
        customer_id,
        customer_reference,
        customer_name,

    from ranked
    where recency_rank = 1

),

appointment_stats as (

    select
        source,
        customer_id,
        count(*) as appointment_count,
        min(starts_at) as first_appointment_at,
        max(starts_at) as last_appointment_at,

    from appointments
    where
        not is_deleted
        and customer_id is not null
    group by source, customer_id

),

final as (

    select
        latest.source || ':' || latest.customer_id as customer_key,
        latest.source,
        latest.customer_id,
        latest.customer_reference,
        latest.customer_name,
        coalesce(appointment_stats.appointment_count, 0) as appointment_count,
        appointment_stats.first_appointment_at,
        appointment_stats.last_appointment_at,

    from latest
    left join appointment_stats
        on latest.source = appointment_stats.source
        and latest.customer_id = appointment_stats.customer_id

)

select * from final
