//! The sea-orm store passes the repository contract on SQLite and on Postgres
//! (the latter `#[ignore]`d unless run with `--include-ignored` and
//! `TESSERA_TEST_DATABASE_URL`, as CI does).

mod sqlite {
    use tessera_sea_orm::{test_support, SeaOrmStore};

    tessera_repository_contract::license_repository_contract!(async {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("contract-sqlite");
        SeaOrmStore::new(test_support::sqlite_database(&dir).await)
    });
}

mod postgres {
    use tessera_sea_orm::{test_support, SeaOrmStore};

    tessera_repository_contract::license_repository_contract!(
        ignore = "needs Postgres: set TESSERA_TEST_DATABASE_URL and run with --include-ignored (CI does)",
        async { SeaOrmStore::new(test_support::postgres_database().await) }
    );
}
