//! The behaviour every [`LicenseRepository`] adapter must show, written once and
//! run against each adapter (in-memory, SQLite, Postgres) by
//! [`license_repository_contract!`].

pub mod artifact_cases;
pub mod cases;
mod fixtures;
pub mod moto;
pub mod redis;

pub use fixtures::{activation, audit_for, delivery, delivery_audit, license, recorded_event, T0};

/// Generates one `#[tokio::test]` per contract case. `$make` is an async
/// expression giving the repository; `ignore = "reason", $make` marks every
/// generated test `#[ignore = "reason"]` (e.g. when it needs Postgres).
#[macro_export]
macro_rules! license_repository_contract {
    (ignore = $reason:literal, $make:expr) => {
        $crate::license_repository_contract!(@cases [#[ignore = $reason]] $make);
    };
    ($make:expr) => {
        $crate::license_repository_contract!(@cases [] $make);
    };
    (@cases $attributes:tt $make:expr) => {
        $crate::license_repository_contract!(@each $attributes $make;
            creates_and_finds_a_license,
            finds_nothing_for_an_unknown_key,
            refuses_a_duplicate_key_and_stores_nothing,
            remembers_idempotency_keys,
            concurrent_mints_under_one_idempotency_key_store_one,
            updates_only_from_the_expected_version,
            concurrent_updates_from_one_version_apply_once,
            filters_licenses,
            paginates_newest_first_without_gaps,
            records_audit_events_with_their_changes,
            answers_ping,
            takes_seats_up_to_the_limit_exactly_under_concurrency,
            one_machine_holds_one_seat_even_when_racing,
            concurrent_activations_of_one_license_each_get_their_own_seat,
            releasing_frees_the_seat_once,
            touch_updates_only_live_activations,
            no_seat_for_a_license_that_is_not_active,
            lifecycle_updates_keep_the_seat_count,
            the_churn_cap_is_judged_with_the_seat,
            records_storefront_events_exactly_as_received,
            finishes_events_and_counts_attempts,
            lists_events_by_storefront_and_status_newest_first,
            applies_a_once_only_change_once_under_concurrency,
            finds_a_license_by_its_subscription,
            queues_a_delivery_once_per_dedupe_key,
            creates_a_license_with_its_first_delivery_or_neither,
            claims_each_due_delivery_once_under_concurrency,
            settles_only_the_claimed_attempt,
            fails_deliveries_abandoned_mid_send,
            reschedules_only_from_the_expected_status,
            counts_for_the_dashboard,
            counts_mints_sales_and_activations_per_day,
            creates_many_licenses_all_or_nothing,
            records_usage_and_reviews_each_flag_once,
            licenses_bring_their_customer_and_a_move_rewrites_them_atomically,
            stores_releases_once_per_product_and_version,
            moves_a_release_only_from_the_expected_status,
            adds_files_only_to_a_draft_and_replaces_by_name,
            validation_reads_see_every_write_before_them,
            creates_a_sales_license_and_finishes_its_event_or_neither,
        );
    };
    (@each $attributes:tt $make:expr; $($case:ident),+ $(,)?) => {
        $($crate::license_repository_contract!(@one $attributes $case $make);)+
    };
    (@one [$(#[$attribute:meta])*] $case:ident $make:expr) => {
        #[tokio::test]
        $(#[$attribute])*
        async fn $case() {
            let repository = $make.await;
            $crate::cases::$case(&repository).await;
        }
    };
}
