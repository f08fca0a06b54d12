-- Weekly no-show rate per office and source, for dashboards. Deleted appointments are left
-- out. Weeks are ISO weeks (starting Monday) of starts_at in UTC; appointments without a
-- start fall under a null week_start. Valomnia has no offices (null office_id) and no
-- no-shows.
--
-- Columns:
--   week_start          Monday of the UTC week of starts_at; null when there is no start
--   source              'pexip_engage' or 'valomnia'
--   office_id           Pexip Engage office; null for Valomnia
--   appointment_count   appointments in the week, any status
--   completed_count     appointments with status completed
--   no_show_count       appointments with status no_show
--   no_show_rate        no_show_count / (completed_count + no_show_count), rounded to 4
--                       decimals: the share of concluded appointments the customer missed;
--                       null when none concluded

with

appointments as (

    select * from reporting.fct_appointments
    where not is_deleted

),

weekly as (

    select
        cast(date_trunc('week', (starts_at at time zone 'UTC')) as date) as week_start,
        source,
        office_id,
        count(*) as appointment_count,
        count(*) filter (where status = 'completed') as completed_count,
        count(*) filter (where status = 'no_show') as no_show_count,

    from appointments
    group by 1, 2, 3

),

final as (

    select
        week_start,
        source,
        office_id,
        appointment_count,
        completed_count,
        no_show_count,
        round(
            cast(no_show_count as double) / nullif(completed_count + no_show_count, 0),
            4
        ) as no_show_rate,

    from weekly

)

select * from final
