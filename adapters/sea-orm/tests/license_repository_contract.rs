//! The sea-orm store passes the repository contract on SQLite and on Postgres
//! (the latter when `TESSERA_TEST_DATABASE_URL` is set).

mod sqlite {
    use tessera_sea_orm::{test_support, SeaOrmLicenseRepository};

    tessera_repository_contract::license_repository_contract!(async {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("contract-sqlite");
        Some(SeaOrmLicenseRepository::new(test_support::sqlite_database(&dir).await))
    });
}

mod postgres {
    use tessera_sea_orm::{test_support, SeaOrmLicenseRepository};

    tessera_repository_contract::license_repository_contract!(async {
        test_support::postgres_database().await.map(SeaOrmLicenseRepository::new)
    });
}
