//! The in-memory store passes the same contract as the database stores.

use tessera_memory::InMemoryLicenseRepository;

tessera_repository_contract::license_repository_contract!(async { InMemoryLicenseRepository::new() });
