//! Migration 000012 replaces the two indexes a machine's lookup can use, and
//! undoes that: down one step gives back the old ones, up again the new ones,
//! and a live machine stays unique throughout.

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;
use tessera_schema::Migrator;

async fn activation_indexes(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'activations' \
               AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name";
    let rows = db.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap();
    rows.iter().map(|row| row.try_get_by_index::<String>(0).unwrap()).collect()
}

#[tokio::test]
async fn the_machine_lookup_indexes_are_replaced_and_restored() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(
        activation_indexes(&db).await,
        [
            "ix_activations_activated_day",
            "ix_activations_license_deactivated_fingerprint",
            "ux_activations_live_machine"
        ]
    );
    Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(
        activation_indexes(&db).await,
        ["ix_activations_activated_day", "ix_activations_license_deactivated", "ux_activations_live_fingerprint"]
    );
    Migrator::up(&db, None).await.unwrap();
    assert!(activation_indexes(&db).await.contains(&"ux_activations_live_machine".to_owned()));

    // One live activation per machine and license, as before.
    // The license row is beside the point here.
    db.execute_unprepared("PRAGMA foreign_keys = OFF").await.unwrap();
    let insert = |id: &str| {
        format!(
            "INSERT INTO activations (id, license_id, fingerprint, activated_at, last_seen_at) \
             VALUES ('{id}', 'l1', 'machine', 0, 0)"
        )
    };
    db.execute_unprepared(&insert("a1")).await.unwrap();
    assert!(db.execute_unprepared(&insert("a2")).await.is_err(), "a second live activation of one machine");
}
