-- Valomnia appointments: one row per row of valomnia.appointments (merged on id), renamed and
-- typed. Valomnia sends both flat ids (customerId, employeeId, appointmentCategoryId) and
-- nested objects (customer, employee, appointmentCategory); both are kept, the nested ids as
-- *_object_id. An appointment removed at the source keeps its row, with deleted_at set.

with

source as (

    select * from valomnia.appointments

),

renamed as (

    select
        -- ids
        cast(id as bigint) as appointment_id,
        cast(customer_id as bigint) as customer_id,
        cast(customer__id as bigint) as customer_object_id,
        cast(employee_id as bigint) as employee_id,
        cast(employee__id as bigint) as employee_object_id,
        cast(appointment_category_id as bigint) as appointment_category_id,
        cast(appointment_category__id as bigint) as appointment_category_object_id,

        -- properties
        cast(title as varchar) as title,
        cast(note as varchar) as note,
        cast(done as boolean) as is_done,
        cast(customer__reference as varchar) as customer_reference,
        cast(customer__name as varchar) as customer_name,
        cast(employee__reference as varchar) as employee_reference,
        cast(employee__name as varchar) as employee_name,
        cast(appointment_category__reference as varchar) as appointment_category_reference,
        cast(appointment_category__name as varchar) as appointment_category_name,

        -- timestamps
        cast(start_date as timestamptz) as starts_at,
        cast(end_date as timestamptz) as ends_at,
        cast(date_created as timestamptz) as created_at,
        cast(last_updated as timestamptz) as updated_at,
        cast(deleted_at as timestamptz) as deleted_at,

        -- load
        cast(_dlt_load_id as varchar) as load_id,

    from source

)

select * from renamed
